// Package atomicfile is the one writer of files cmca leaves on disk: private
// keys, PKCS#12 files, certificates and CRLs.
//
// A file is written to a new temporary file with a random name in the
// target's directory (created with O_EXCL, so a planted file or symlink is
// never opened, and mode 0600 from the first byte), synced, given its final
// mode and renamed over the target. A crash leaves the old file or the new
// one, never half of one. The target itself is never written through a
// symlink: a symlink at the target's name is refused.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExist is returned (wrapped) when the target exists and Overwrite is
// not set.
var ErrExist = fs.ErrExist

// ErrSymlink is returned (wrapped) when the target's name is a symlink.
var ErrSymlink = errors.New("is a symbolic link; cmca does not write through symbolic links")

// Options say how a file is written.
type Options struct {
	// Mode is the final file mode; zero means 0600 (secret). Public files
	// (certificates, CRLs) pass 0644.
	Mode os.FileMode
	// Overwrite replaces an existing regular file. Without it an existing
	// file is never replaced, even one created meanwhile.
	Overwrite bool
	// NoSync skips fsync of the file (public files written by the
	// thousand, which can be written again). Secret files are always synced.
	NoSync bool
}

func (o Options) mode() os.FileMode {
	if o.Mode == 0 {
		return 0o600
	}
	return o.Mode
}

// Write writes data to path.
func Write(path string, data []byte, o Options) error {
	return WriteWith(path, o, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteWith writes path with the content fill writes to the file.
func WriteWith(path string, o Options, fill func(*os.File) error) error {
	if err := CheckTarget(path, o.Overwrite); err != nil {
		return err
	}
	tmp, err := Temp(path, o, fill)
	if err != nil {
		return err
	}
	return Commit(tmp, path, o)
}

// CheckTarget refuses a target that is a symlink, a directory or anything
// but a regular file, and (without overwrite) one that exists.
func CheckTarget(path string, overwrite bool) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return &fs.PathError{Op: "write", Path: path, Err: ErrSymlink}
	case fi.IsDir():
		return &fs.PathError{Op: "write", Path: path, Err: errors.New("is a directory")}
	case !fi.Mode().IsRegular():
		return &fs.PathError{Op: "write", Path: path, Err: errors.New("is not a regular file")}
	case !overwrite:
		return &fs.PathError{Op: "write", Path: path, Err: ErrExist}
	}
	return nil
}

// Temp creates a temporary file beside path (named path's base name +
// ".tmp-" + random), fills it, syncs it unless o.NoSync, gives it its
// final mode and returns its name. On error nothing is left behind.
func Temp(path string, o Options, fill func(*os.File) error) (string, error) {
	// os.CreateTemp opens with O_CREATE|O_EXCL and mode 0600: it never
	// follows a symlink or reuses a file someone else created.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil && o.mode() != 0o600 {
		err = f.Chmod(o.mode())
	}
	if err == nil && (!o.NoSync || o.mode()&0o077 == 0) {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// Commit moves the temporary file tmp (from Temp) to path: with
// o.Overwrite by rename (which replaces a symlink at path, never writes
// through it), else by a hard link that fails if path exists. tmp is gone
// afterwards, on success or failure.
func Commit(tmp, path string, o Options) error {
	defer os.Remove(tmp)
	if o.Overwrite {
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	} else if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &fs.PathError{Op: "write", Path: path, Err: ErrExist}
		}
		// No hard links here (a FAT stick): check, then rename.
		if cerr := CheckTarget(path, false); cerr != nil {
			return cerr
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	if !o.NoSync {
		syncDir(filepath.Dir(path))
	}
	return nil
}

// syncDir makes a rename durable. Errors are ignored: some file systems
// cannot sync a directory, and the file itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
