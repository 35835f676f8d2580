package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/huh"
	"github.com/cmca/cmca/internal/msg"
)

// accessibleFactory is a Factory whose forms run in accessible mode on the
// given input.
func accessibleFactory(in string) (*Factory, *bytes.Buffer) {
	var out bytes.Buffer
	f := &Factory{IO: &IOStreams{In: strings.NewReader(in), Out: &out, ErrOut: &out}, v: newViper(), cfg: &Config{Accessible: true}}
	return f, &out
}

func TestAccessibleFormEndOfInput(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"out of range then end", "9\n"},
		{"not a number then end", "x\n"},
		{"nothing at all", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out := accessibleFactory(tt.in)
			var v string
			err := f.runForm(context.Background(), huh.NewGroup(huh.NewSelect[string]().Title("Pick").
				Options(huh.NewOption("one", "1"), huh.NewOption("two", "2"), huh.NewOption("three", "3")).Value(&v)))
			if !errors.Is(err, errCancelled) || !strings.Contains(err.Error(), "input ended") {
				t.Errorf("runForm(%q) = %v; want the input-ended error\n%s", tt.in, err, out)
			}
		})
	}
}

func TestAccessibleFormPanicIsAnError(t *testing.T) {
	f, _ := accessibleFactory("1\n")
	err := runAccessible(context.Background(), func(context.Context) error { panic("index out of range [-1]") }, &lineReader{r: f.IO.In})
	if err == nil || !strings.Contains(err.Error(), "index out of range") || errors.Is(err, errCancelled) {
		t.Errorf("runAccessible(panicking form) = %v; want an error naming the panic", err)
	}
}

func TestAccessibleFormContextCancel(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	err := runAccessible(ctx, func(context.Context) error { <-block; return nil }, &lineReader{r: strings.NewReader("")})
	if ExitCode(err) != ExitCancelled {
		t.Errorf("runAccessible(cancelled) = %v (exit %d); want exit %d", err, ExitCode(err), ExitCancelled)
	}
}

// TestAccessibleFormChinese: huh's own texts of accessible mode (the
// number prompt, the out-of-range and yes/no complaints) are shown in
// Chinese; the answers are read as in English.
func TestAccessibleFormChinese(t *testing.T) {
	f, out := accessibleFactory("9\n2\nmaybe\ny\n")
	zh := msg.For(msg.Chinese)
	f.printer = &zh
	var v string
	var ok bool
	err := f.runForm(context.Background(), huh.NewGroup(
		huh.NewSelect[string]().Title("Pick").Options(huh.NewOption("one", "1"), huh.NewOption("two", "2"), huh.NewOption("three", "3")).Value(&v),
		huh.NewConfirm().Title("Sure?").Value(&ok)))
	if err != nil || v != "2" || !ok {
		t.Fatalf("runForm = %v, %q, %v; want nil, 2, true\n%s", err, v, ok, out)
	}
	for _, want := range []string{"请输入 1 到 3 之间的数字：", "无效：必须是 1 到 3 之间的数字", "输入无效，请重新输入"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("accessible form output lacks %q:\n%s", want, out)
		}
	}
	for _, english := range []string{"Enter a number", "Invalid", "invalid input"} {
		if strings.Contains(out.String(), english) {
			t.Errorf("accessible form output has %q:\n%s", english, out)
		}
	}
}
