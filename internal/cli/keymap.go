package cli

import (
	"reflect"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/huh"
)

// keyMap is huh's key map with its help line ("enter submit • tab next")
// in the user's language.
func (f *Factory) keyMap() *huh.KeyMap {
	km := huh.NewDefaultKeyMap()
	eachBinding(reflect.ValueOf(km).Elem(), func(b *key.Binding) {
		h := b.Help()
		b.SetHelp(h.Key, f.T(h.Desc))
	})
	return km
}

// eachBinding calls fn on every key.Binding in the struct v, nested
// structs included.
func eachBinding(v reflect.Value, fn func(*key.Binding)) {
	for i := range v.NumField() {
		fv := v.Field(i)
		if !fv.CanAddr() || !fv.Addr().CanInterface() {
			continue
		}
		if b, ok := fv.Addr().Interface().(*key.Binding); ok {
			fn(b)
			continue
		}
		if fv.Kind() == reflect.Struct {
			eachBinding(fv, fn)
		}
	}
}
