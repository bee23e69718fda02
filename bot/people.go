package bot

// Role is what a person may do in weibao.
type Role string

const (
	RoleNurse    Role = "nurse"
	RoleEngineer Role = "engineer"
	RoleLead     Role = "lead" // the project lead (项目负责人)
	RoleAdmin    Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleNurse, RoleEngineer, RoleLead, RoleAdmin:
		return true
	}
	return false
}

// ActsOnTickets reports whether the role may acknowledge, resolve, transfer… tickets.
func (r Role) ActsOnTickets() bool { return r == RoleEngineer || r == RoleLead || r == RoleAdmin }

// Person is someone on the roster, known by their WeCom user id.
type Person struct {
	UserID   string
	Name     string
	Role     Role
	Mobile   string // for phone paging; never logged
	WardCode string // a nurse's home ward, used when she reports 1:1
	Active   bool   // false once removed from the configured roster
}

// Campus is a hospital site; engineers' arrival is measured from it.
type Campus struct {
	Code     string
	Name     string
	Lat, Lng float64
}

// Ward is a department whose nurses report faults, usually from one WeCom group.
type Ward struct {
	Code       string
	Name       string
	CampusCode string
	ChatID     string // the ward's WeCom group chat id; empty when not mapped
}

// Category is one entry of the fault catalogue (tender 二.5).
type Category struct {
	Code       string
	Name       string
	Type       FaultType
	Difficulty Difficulty // default; an engineer may change it
	Keywords   []string   // words in a report that suggest this category
	SelfHelp   string     // approved first-aid tip shown to the reporter; empty if none
	Sort       int
}
