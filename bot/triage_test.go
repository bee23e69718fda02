package bot

import "testing"

// 待分诊 ends when an engineer has seen the ticket: he takes it (接单, or
// arrives or resolves without it) or sets its class. The reporter's own
// answers and the system's notes leave it.
func TestTriageEnds(t *testing.T) {
	tests := []struct {
		kind  EventKind
		actor string
		want  bool
	}{
		{EventAcknowledged, "eng1", false},
		{EventArrived, "eng1", false},
		{EventResolved, "eng1", false},
		{EventReclassified, "eng1", false},
		{EventReclassified, "nurse1", true},
		{EventPaged, ActorSystem, true},
		{EventReminded, ActorSystem, true},
		{EventAttached, "nurse1", true},
	}
	for _, tt := range tests {
		tk := ticketIn(StatusNew)
		tk.Triage = true
		c := changeFor(tt.kind)
		c.Actor = tt.actor
		if _, err := tk.Apply(c); err != nil {
			t.Fatalf("%s by %s: %v", tt.kind, tt.actor, err)
		}
		if tk.Triage != tt.want {
			t.Errorf("after %s by %s: triage %v, want %v", tt.kind, tt.actor, tk.Triage, tt.want)
		}
	}
}
