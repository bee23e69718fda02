package bot

import (
	"regexp"
	"strings"
)

// Mask hides mainland ID-card numbers (18 or 15 digits, the 18-digit form may
// end in X) and mobile numbers (11 digits starting 13–19, optionally +86/86)
// in free text, keeping just enough digits for a person to recognise them.
// Fault reports are written in a hurry and sometimes carry a patient's or a
// nurse's identifiers; tender clause 九 forbids keeping them.
func Mask(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		run := s[i:j]
		if len(run) == 17 && j < len(s) && (s[j] == 'X' || s[j] == 'x') {
			run, j = s[i:j+1], j+1
		}
		b.WriteString(maskRun(run))
		i = j
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func maskRun(run string) string {
	switch {
	case len(run) == 18 || len(run) == 15:
		return run[:4] + strings.Repeat("*", len(run)-8) + run[len(run)-4:]
	case len(run) == 11 && run[0] == '1' && run[1] >= '3':
		return run[:3] + "****" + run[7:]
	case len(run) == 13 && strings.HasPrefix(run, "86") && run[2] == '1' && run[3] >= '3':
		return run[:5] + "****" + run[9:]
	}
	return run
}

// MaskLog is Mask for log lines, where a word lost costs nothing: it also
// hides bed numbers (12床, 床号12, 12号床) and the name after 患者, 病人, 患儿,
// 病患 or 姓名 (the next one to three Han characters, a name or not). A
// ticket keeps its bed number, which the engineer needs; a log need not.
func MaskLog(s string) string {
	s = Mask(s)
	s = bedRE.ReplaceAllString(s, "*床")
	return patientRE.ReplaceAllString(s, "$1**")
}

var (
	bedRE     = regexp.MustCompile(`床号?\s*[:：]?\s*\d+|\d+\s*号?床`)
	patientRE = regexp.MustCompile(`(患者|病人|患儿|病患|姓名)\s*[:：]?\s*\p{Han}{1,3}`)
)
