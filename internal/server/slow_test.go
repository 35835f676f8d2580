package server

import (
	"bufio"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSlowClientsAreCutOff: a client that sends its headers or its body
// too slowly (slowloris) loses the connection instead of holding a server
// goroutine for ever. The test shortens the timeouts of a server made by
// NewHTTPServer; the production values are checked to be set at all.
func TestSlowClientsAreCutOff(t *testing.T) {
	handled := make(chan struct{}, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "body too slow", http.StatusRequestTimeout)
			return
		}
		handled <- struct{}{}
	})
	srv := NewHTTPServer(h, nil, slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if d <= 0 {
			t.Errorf("NewHTTPServer: %s = %v; want a limit", name, d)
		}
	}
	ln := serveImpatient(t, srv)

	tests := []struct {
		name, send string
	}{
		{"headers never finished", "POST /api/v1/requests HTTP/1.1\r\nHost: cmca\r\nContent-Type: app"},
		{"body never finished", "POST /api/v1/requests HTTP/1.1\r\nHost: cmca\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"applications\":"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			// Then nothing more: the server must end it. The deadline only
			// bounds the test; it is far above the server's timeouts.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				defer resp.Body.Close()
				if resp.StatusCode < 400 {
					t.Fatalf("a slow client got %s; want the connection cut or an error status", resp.Status)
				}
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server kept a slow client's connection open: %v", err)
			}
			if err != io.EOF && err != io.ErrUnexpectedEOF && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("reading the answer: %v", err)
			}
		})
	}
	select {
	case <-handled:
		t.Fatal("a request from a slow client reached the handler whole")
	default:
	}
}

// TestSlowBodyIs408: through the API handler, a body that stops arriving
// is answered 408 input.timeout (a structured error, nothing stored), not
// 400 input.malformed_json with the connection's addresses in it.
func TestSlowBodyIs408(t *testing.T) {
	ts := newTestServer(t, Options{})
	before := ts.snapshot()
	srv := NewHTTPServer(ts.h, nil, slog.New(slog.DiscardHandler))
	ln := serveImpatient(t, srv)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /api/v1/requests HTTP/1.1\r\nHost: cmca\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"applications\":")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if e := decodeError(t, body); resp.StatusCode != 408 || e.Code != "input.timeout" || strings.Contains(e.Message, "127.0.0.1") {
		t.Errorf("a stalled body = %d %s; want 408 input.timeout without addresses", resp.StatusCode, body)
	}
	if ts.snapshot() != before {
		t.Error("the store changed")
	}
	// EST (text answers) the same: 408, no addresses.
	ref, code := ts.issuedRef()
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: cmca\r\nContent-Type: application/pkcs10\r\nContent-Length: 1000\r\n"+
		"Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(ref+":"+code))+"\r\n\r\nMIIB")
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp2, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatalf("reading the EST answer: %v", err)
	}
	defer resp2.Body.Close()
	body2, _ := io.ReadAll(resp2.Body)
	if resp2.StatusCode != 408 || strings.Contains(string(body2), "127.0.0.1") {
		t.Errorf("a stalled EST body = %d %s; want 408 without addresses", resp2.StatusCode, body2)
	}
}

// TestOversizeBodyRefusedBeforeUpload: a body whose Content-Length is over
// the limit is refused (413 input.too_large) before any of it is read, so
// a client that waits for 100 Continue (curl does above 1 MiB) gets the
// answer instead of a broken pipe halfway through its upload.
func TestOversizeBodyRefusedBeforeUpload(t *testing.T) {
	ts := newTestServer(t, Options{})
	srv := httptest.NewServer(ts.h)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	read := 0
	body := readerFunc(func(p []byte) (int, error) {
		read += len(p)
		for i := range p {
			p[i] = ' '
		}
		return len(p), nil
	})
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/requests", io.LimitReader(body, 4<<20))
	req.ContentLength = 4 << 20
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST 4 MiB: %v (want a 413 answer, not a failed upload)", err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if e := decodeError(t, out); res.StatusCode != 413 || e.Code != "input.too_large" {
		t.Errorf("POST 4 MiB = %d %s; want 413 input.too_large", res.StatusCode, out)
	}
	if read > 0 {
		t.Errorf("the client sent %d bytes of a body the server had refused by its Content-Length", read)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// serveImpatient serves srv on a loopback port with its read timeouts cut
// to 200 ms (headers) and 400 ms (the whole request), until the test ends.
func serveImpatient(t *testing.T, srv *http.Server) net.Listener {
	t.Helper()
	srv.ReadHeaderTimeout, srv.ReadTimeout = 200*time.Millisecond, 400*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}
