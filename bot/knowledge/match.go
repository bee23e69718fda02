package knowledge

import (
	"unicode"

	"weibao/bot"
)

// Match picks the FAQ entry whose symptom a nurse's words match best: the
// share of the symptom's character pairs (bigrams, what MySQL's ngram parser
// indexes) that her text holds. Chinese has no spaces to split words on,
// and a nurse never words a fault as the entry does, so pairs are the unit.
// An entry matches when at least half its pairs, and at least two, appear.
func Match(text string, es []bot.KBEntry) (bot.KBEntry, bool) {
	have := map[[2]rune]bool{}
	for _, p := range bigrams(text) {
		have[p] = true
	}
	var best bot.KBEntry
	bestScore := 0.0
	for _, e := range es {
		ps := bigrams(e.Symptom)
		if len(ps) == 0 {
			continue
		}
		n := 0
		for _, p := range ps {
			if have[p] {
				n++
			}
		}
		if score := float64(n) / float64(len(ps)); n >= 2 && score >= 0.5 && score > bestScore {
			best, bestScore = e, score
		}
	}
	return best, bestScore > 0
}

// bigrams are the distinct pairs of adjacent letters or digits of s, lower
// case; punctuation and spaces break a run.
func bigrams(s string) [][2]rune {
	var out [][2]rune
	seen := map[[2]rune]bool{}
	prev := rune(-1)
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			prev = -1
			continue
		}
		r = unicode.ToLower(r)
		if prev >= 0 {
			p := [2]rune{prev, r}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		prev = r
	}
	return out
}
