package ra

import "testing"

func TestMasked(t *testing.T) {
	a := Applicant{Name: "张三", Surname: "张", GivenName: "三", IDType: IDResident, IDNumber: "11010519491231002X", Mobile: "13812348000", Email: "zhang@example.com", Address: "北京市海淀区 2 号"}
	got := a.Masked()
	want := Applicant{Name: "张*", Surname: "张", GivenName: "*", IDType: IDResident, IDNumber: "11010519491231002X", Mobile: "138****8000", Email: "z***@example.com", Address: "北京市***"}
	if got != want {
		t.Errorf("Masked() = %+v; want %+v", got, want)
	}
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {"王", "王"}, {"欧阳娜娜", "欧***"}, {"Li", "L*"},
	} {
		if got := MaskText(tt.in, 1); got != tt.want {
			t.Errorf("MaskText(%q, 1) = %q; want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"+85291234567", "+85*****4567"}, {"1234", "****"},
	} {
		if got := MaskMobile(tt.in); got != tt.want {
			t.Errorf("MaskMobile(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if got := MaskEmail("x@y.example"); got != "x***@y.example" {
		t.Errorf("MaskEmail = %q", got)
	}
}
