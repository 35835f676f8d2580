package cli_test

import (
	"strings"
	"testing"
)

// TestTerminalChinese fills the apply form in a terminal with
// LANG=zh_CN.UTF-8: every title, option and the confirmation page are
// Chinese, the stored application is the same as in English.
func TestTerminalChinese(t *testing.T) {
	needTmux(t)
	if testing.Short() {
		t.Skip("builds cmca and drives it in tmux")
	}
	bin := buildCmca(t)
	e := newCmcaEnv(t, bin, "")
	for i, kv := range e.env {
		if strings.HasPrefix(kv, "LANG=") {
			e.env[i] = "LANG=zh_CN.UTF-8"
		}
	}
	p := e.tmux("apply")
	s := p.waitFor("个人证书申请")
	for _, want := range []string{"先查询：老用户已保存的信息会自动填入。", "居民身份证"} {
		if !strings.Contains(s, want) {
			t.Errorf("the first page lacks %q:\n%s", want, s)
		}
	}
	s = p.waitFor("┃ 证件类型")
	if !strings.Contains(s, "上移") { // huh's key help line, translated (f.keyMap)
		t.Errorf("the key help line is not Chinese:\n%s", s)
	}
	p.keys("Enter") // 居民身份证
	p.fill("证件号码", "11010519491231002X")
	p.fill("姓名", "张三")
	p.fill("姓（选填）", "张")
	p.fill("名（选填）", "")
	// Both or neither: the message is Chinese, and the field keeps focus.
	p.waitFor("填写了姓时必须填写名")
	p.text("三")
	p.keys("Enter")
	p.fill("手机号码", "13812345678")
	// The validator's message is Chinese too, shown as the field is left.
	p.fill("电子邮件", "not-an-email")
	p.waitFor("不是有效的电子邮件地址")
	for range len("not-an-email") {
		p.keys("BSpace")
	}
	p.text("zhang@example.com")
	p.keys("Enter")
	p.fill("地址", "")
	s = p.waitFor("┃ 证书使用类型")
	for _, want := range []string{"身份认证 (auth)", "申请受理点", "证书存储方式", "USB Key 令牌（PKCS#11）", "软证书（PKCS#12 文件）"} {
		if !strings.Contains(s, want) {
			t.Errorf("the certificate page lacks %q:\n%s", want, s)
		}
	}
	p.keys("Enter") // auth
	p.focus("申请受理点")
	p.keys("Enter") // online
	p.focus("证书存储方式")
	p.keys("Down", "Enter") // soft
	s = p.waitFor("┃ 是否由经办人代申请人办理？")
	if !strings.Contains(s, "是") || !strings.Contains(s, "否") || !strings.Contains(s, "y/n 选择") {
		t.Errorf("the yes/no question is not Chinese:\n%s", s)
	}
	p.keys("Enter") // no agent
	p.waitFor("您是否接受数字证书订户协议？")
	p.keys("y", "Enter") // y chooses 我接受, Enter submits
	s = p.waitFor("提交申请？")
	for _, want := range []string{"请核对您的申请", "姓名：张三", "姓：张；名：三", "证书使用类型：auth", "申请受理点：online", "证书存储方式：soft"} {
		if !strings.Contains(s, want) {
			t.Errorf("the confirmation page lacks %q:\n%s", want, s)
		}
	}
	p.keys("Enter")
	s = p.waitFor("EXIT=")
	if !strings.Contains(s, "EXIT=0") || !strings.Contains(s, "业务受理号：") || !strings.Contains(s, "申请已提交。") {
		t.Fatalf("apply did not succeed in Chinese:\n%s", s)
	}
	var rs []listed
	e.runJSON(&rs, "review")
	if len(rs) != 1 || rs[0].Applicant.Name != "张三" || rs[0].UsageType != "auth" || rs[0].Storage != "soft" || rs[0].State != "submitted" {
		t.Fatalf("stored requests = %+v; want one from 张三, auth, soft, submitted", rs)
	}
}
