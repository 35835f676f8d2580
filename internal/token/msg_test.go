//go:build cgo

package token

import (
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/msg"
	"github.com/miekg/pkcs11"
)

// TestTokenErrorsTranslated: every PKCS#11 failure a user is told about
// has a zh-Hans text, and a token error renders whole in Chinese (the
// operation, the advice), keeping the return value's name.
func TestTokenErrorsTranslated(t *testing.T) {
	for rv, c := range rvClasses {
		if !msg.Has(c.msg) {
			t.Errorf("%s: %q has no zh-Hans text in internal/msg/zh-Hans.txt", pkcs11.Error(rv), c.msg)
		}
	}
	err := mapP11Error(pkcs11.Error(pkcs11.CKR_PIN_INCORRECT), "log in to token %s", "My Key")
	tr, ok := err.(msg.Translatable)
	if !ok {
		t.Fatalf("%T is not msg.Translatable", err)
	}
	got := tr.Translate(msg.For(msg.Chinese))
	if !strings.Contains(got, "登录令牌 My Key") || !strings.Contains(got, "PIN 码错误") || !strings.Contains(got, "CKR_PIN_INCORRECT") {
		t.Errorf("Chinese text = %q", got)
	}
	if got := tr.Translate(msg.For(msg.English)); got != err.Error() {
		t.Errorf("English text = %q; want %q", got, err.Error())
	}
	noModule := classed(nil, "PKCS#11 module %s does not exist; check CMCA_TOKEN_MODULE and that the token's driver is installed", "/x.so")
	if got := noModule.(msg.Translatable).Translate(msg.For(msg.Chinese)); !strings.Contains(got, "/x.so") || !strings.Contains(got, "PKCS#11 模块") {
		t.Errorf("Chinese text of a classed error = %q", got)
	}
}
