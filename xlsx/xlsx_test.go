package xlsx_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"weibao/bot"
	"weibao/bot/report"
	"weibao/catalog"
	"weibao/xlsx"
)

var sh = time.FixedZone("CST", 8*3600)

func open(t *testing.T, b []byte, err error) *excelize.File {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func TestMonthlyCells(t *testing.T) {
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, sh)
	g := bot.GroupStats{Count: 40, Resolved: 38, AckP50: 7 * time.Minute, AckP90: 18 * time.Minute, ResolveP50: 90 * time.Minute,
		ResolveP90: 4 * time.Hour, SLA: bot.Compliance{Ack: bot.ClockStats{Met: 30, Due: 40}, Resolve: bot.ClockStats{Met: 19, Due: 38}}}
	m := &report.Monthly{Month: nov, AsOf: time.Date(2026, 12, 1, 9, 0, 0, 0, sh), Location: sh, Total: g,
		Views: []report.View{{Dim: bot.DimWard, Rows: []report.ViewRow{{Label: "内科ICU", GroupStats: g}}}},
		Fixes: []report.FixLine{{Category: "无法登录", Solution: "重置密码", N: 5}},
		Trend: []report.TrendPoint{{Month: nov.AddDate(0, -1, 0), Count: 3}, {Month: nov, Count: 40, SLA: g.SLA}}}
	b, err := xlsx.Encoder{Texts: catalog.Default()}.Monthly(m)
	x := open(t, b, err)
	tests := []struct{ sheet, cell, want string }{
		{"汇总", "A1", "月份"},
		{"汇总", "A2", "2026-10"}, // a date cell shown yyyy-mm
		{"汇总", "A3", "2026-11"},
		{"汇总", "B3", "40"},
		{"汇总", "C3", "75.00%"}, // 30/40 as a number shown as a percentage
		{"汇总", "D2", ""},       // no deadline fell due: empty, not 0%
		{"汇总", "B6", "2026-12-01 09:00"},
		{"按科室", "A1", "科室"},
		{"按科室", "A2", "内科ICU"},
		{"按科室", "F2", "90.0"}, // minutes
		{"解决方法", "B2", "重置密码"},
	}
	for _, tt := range tests {
		got, err := x.GetCellValue(tt.sheet, tt.cell)
		if err != nil || got != tt.want {
			t.Errorf("%s!%s = %q (%v), want %q", tt.sheet, tt.cell, got, err, tt.want)
		}
	}
	raw, _ := x.GetCellValue("汇总", "A3", excelize.Options{RawCellValue: true})
	if raw != "46327" { // 2026-11-01 as an Excel serial date
		t.Errorf("month cell raw value %q, want the serial date 46327", raw)
	}
}

func TestAnalysisCells(t *testing.T) {
	rep := time.Date(2026, 11, 12, 9, 40, 0, 0, sh)
	a := &report.Analysis{Location: sh, Ward: "综合ICU", Category: "网络或服务器中断", Engineer: "张工", Reporter: "王芳",
		Ticket: &bot.Ticket{No: "F20261112-0004", ReportedAt: rep, ResolvedAt: rep.Add(101 * time.Minute), Description: "全院无法登录",
			Solution: "重启核心交换机", Classification: bot.Classification{Scope: bot.ScopeHospital, Priority: bot.P1}},
		Steps:   []report.Step{{At: rep, Kind: bot.EventReported, Who: "王芳"}, {At: rep.Add(19 * time.Minute), Kind: bot.EventAcknowledged, Who: "张工"}},
		Answers: bot.FaultAnalysis{Status: bot.AnalysisComplete, Cause: "电源模块故障", Impact: "全院 40 分钟", Conclusion: "加巡检"}}
	b, err := xlsx.Encoder{Texts: catalog.Default()}.Analysis(a)
	x := open(t, b, err)
	for _, tt := range []struct{ sheet, cell, want string }{
		{"故障分析报告", "B2", "F20261112-0004"},
		{"故障分析报告", "B3", "2026-11-12 09:40"},
		{"故障分析报告", "A7", "三、原因分析"},
		{"故障分析报告", "B7", "电源模块故障"},
		{"处理步骤", "A3", "2026-11-12 09:59"},
		{"处理步骤", "B3", "接单"},
	} {
		if got, _ := x.GetCellValue(tt.sheet, tt.cell); got != tt.want {
			t.Errorf("%s!%s = %q, want %q", tt.sheet, tt.cell, got, tt.want)
		}
	}
}
