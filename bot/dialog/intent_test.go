package dialog

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		text string
		want Intent
	}{
		{"打印机打不出", IntentFault},
		{"电脑黑屏了", IntentFault},
		{"患者", IntentFault},
		{"谢谢，患者的监护仪又没数据了", IntentFault}, // safety words always count
		{"谢谢", IntentCourtesy},
		{"收到～", IntentCourtesy},
		{"辛苦了👍", IntentCourtesy},
		{"打印机好了，谢谢", IntentCourtesy},
		{"😭😭😭", IntentCourtesy},
		{"谢谢张工", IntentCourtesy}, // thanks to someone by name is still thanks
		{"好的李老师，收到", IntentCourtesy},
		{"谢谢老师", IntentCourtesy},
		{"辛苦刘工了", IntentCourtesy},
		{"张工电脑坏了", IntentFault},
		{"你好", IntentGreeting},
		{"师傅在吗", IntentGreeting},
		{"2", IntentOption},
		{"７", IntentOption},
		{"不是", IntentOption},
		{"今天谁值班", IntentUnclear},
		{"please call me", IntentUnclear},
	}
	for _, tt := range tests {
		if got := Classify(env.Categories, tt.text); got != tt.want {
			t.Errorf("Classify(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}
