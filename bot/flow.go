package bot

import "context"

// Flows are guided question-and-answers the dialogue runs with a person:
// the fault analysis after a department-wide fault, an engineer's
// inspection. The use cases define them; package conversation asks them.

// FlowQuestion is one question of a survey, already rendered in Chinese.
// An answer to a free-text question that starts with Label and a colon
// ("原因：…") answers it whichever question is being asked, so answers come
// in any order.
type FlowQuestion struct {
	Key    string
	Label  string
	Prompt string
	// Choices, when set, are the only answers taken, by word or number, each
	// optionally followed by a note ("异常 磁盘 92%"); anything else is asked
	// again with the choices listed. The choice is the answer under Key, the
	// note under Key+NoteSuffix.
	Choices []string
	// NoteFor are the choices that need a note (异常: what is wrong).
	NoteFor []string
	// Note is kept as the note when the answer adds none: a figure read from
	// monitoring that the person confirms.
	Note string
	// Optional takes 无 (or 跳过) for an empty answer.
	Optional bool
}

// NoteSuffix marks the answer key of a choice's note.
const NoteSuffix = ".note"

// FlowResult is a finished survey: who answered, where, about what, the
// answers by question key, and the message that finished it (a retry of it
// has the same id, so Done can make its writes idempotent on it).
type FlowResult struct {
	UserID, ChatID, Subject string
	Answers                 map[string]string
	MsgID                   string
}

// FlowDone receives a finished survey. Its reply, if any, is said instead
// of the plain thanks; an ErrInvalid refuses the answers and ends the survey
// with the error's own text when it has some.
type FlowDone func(ctx context.Context, res FlowResult) (reply string, err error)

// FlowStart is how a survey started by its word begins: its subject, an
// intro said before the first question, and the questions for this subject
// when they differ from the survey's own (a system's checklist, pre-filled
// figures). The questions are kept with the survey's state.
type FlowStart struct {
	Subject   string
	Intro     string
	Questions []FlowQuestion
}

// Flow lets another package run a guided question-and-answer with a person
// (the fault analysis after a department-wide fault, an engineer's
// inspection) without touching the dialogue code; Done is called once with
// every answer.
type Flow struct {
	Questions []FlowQuestion
	Done      FlowDone
	// Open reports whether subject still wants answers: one answered
	// elsewhere (the analysis endpoint) is not asked again. Nil: always.
	Open func(ctx context.Context, subject string) (bool, error)
	// Words start the survey when someone types one (巡检); the rest of the
	// message is Begin's argument. Begin decides who may start it (an error
	// with a catalogue key is said as it is) and what it is about.
	Words []string
	Begin func(ctx context.Context, person *Person, arg string) (FlowStart, error)
	// Check, when set, vets a free-text answer by its question's key:
	// vetted says it judged this question itself (a version "5.2.1" has too
	// few letters for the default check), hint is the catalogue key of the
	// hint to re-ask with ("" takes it): a planned window that is no time
	// range, a ward nobody knows.
	Check func(ctx context.Context, key, answer string) (hint string, vetted bool)
}
