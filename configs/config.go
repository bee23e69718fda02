// Package configs loads weibao's configuration: one YAML file, every scalar
// key overridable by an environment variable WEIBAO_<PATH> (the key path
// upper-cased, joined by underscores, e.g. WEIBAO_WECOM_BOT_SECRET), so that
// secrets come from the environment in production. Unknown keys are errors.
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"weibao/sla"
	"weibao/sla/calendar"
	"weibao/sla/pager"
	"weibao/sla/pager/aliyun"
	"weibao/sla/pager/tencent"
	"weibao/sla/pager/webhook"
)

// Config is the whole configuration. See weibao.example.yaml for each key.
type Config struct {
	Server     Server     `yaml:"server"`
	Database   Database   `yaml:"database"`
	Redis      Redis      `yaml:"redis"`
	Timezone   string     `yaml:"timezone"`
	Log        Log        `yaml:"log"`
	Catalog    string     `yaml:"catalog"`
	WeCom      WeCom      `yaml:"wecom"`
	Campuses   []Campus   `yaml:"campuses"`
	Wards      []Ward     `yaml:"wards"`
	People     []Person   `yaml:"people"`
	Categories []Category `yaml:"categories"`
	OnCall     OnCall     `yaml:"oncall"`
	Escalation Escalation `yaml:"escalation"`
	Pager      Pager      `yaml:"pager"`
	Reports    Reports    `yaml:"reports"`
	Dialog     Dialog     `yaml:"dialog"`
	Knowledge  Knowledge  `yaml:"knowledge"`
	Records    Records    `yaml:"records"`
	Try        Try        `yaml:"try"`

	// Embedded is true when no configuration file was found and weibao runs
	// on its embedded defaults with the demo roster.
	Embedded bool `yaml:"-"`
	// Location is Timezone, loaded.
	Location *time.Location `yaml:"-"`
	// SLA is the policy of Escalation.SLAFile, or the built-in one, with
	// Calendar as its working time; read once here for every user.
	SLA sla.Policy `yaml:"-"`
	// Calendar is the working-hours calendar of the same file.
	Calendar *calendar.Calendar `yaml:"-"`
	// AnalysisHours is Calendar with Reports.AnalysisHours as its hours.
	AnalysisHours *calendar.Calendar `yaml:"-"`
}

// Dialog configures the guided fault report (bot/conversation).
type Dialog struct {
	// Timeout tickets a dialogue the nurse stopped answering, with what she
	// said, marked 待分诊.
	Timeout time.Duration `yaml:"timeout"`
}

// Try configures the /try page (console): chat with weibao in the browser
// as a roster person. It is the channel when WeCom is not configured; the
// embedded demo turns it on, a configuration file leaves it off.
type Try struct {
	Enabled bool `yaml:"enabled"`
}

type Server struct {
	Addr      string `yaml:"addr"`
	PublicURL string `yaml:"public_url"`
	// AdminToken is the removed shared bearer token, kept only to refuse a
	// configuration that still sets it (see validate).
	AdminToken string `yaml:"admin_token"`
	// PprofAddr serves net/http/pprof there when set (a loopback address:
	// profiles show request data); the product benchmark profiles with it.
	PprofAddr string `yaml:"pprof_addr"`
	// TrustedProxies are the addresses or CIDRs (the load balancer's) whose
	// X-Forwarded-For names the client; none by default.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

type Database struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
	// ReadDSN names a MySQL read replica for the report queries; empty:
	// they read the primary.
	ReadDSN string `yaml:"read_dsn"`
}

type Redis struct {
	URL string `yaml:"url"`
	// Prefix starts every key weibao writes, so deployments (or test runs)
	// sharing one Redis keep apart.
	Prefix string `yaml:"prefix"`
}

type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type WeCom struct {
	CorpID         string `yaml:"corp_id"`
	AgentID        string `yaml:"agent_id"`
	Secret         string `yaml:"secret"`
	Token          string `yaml:"token"`
	EncodingAESKey string `yaml:"encoding_aes_key"`
	APIBase        string `yaml:"api_base"`
	InboxJournal   string `yaml:"inbox_journal"`
	// CallbackWindow is how far a callback's signed timestamp may be from
	// weibao's clock before it is refused as a replay (default 5 min).
	CallbackWindow time.Duration `yaml:"callback_window"`
	Bot            Bot           `yaml:"bot"`
}

type Bot struct {
	Mode           string `yaml:"mode"`
	Token          string `yaml:"token"`
	EncodingAESKey string `yaml:"encoding_aes_key"`
	ID             string `yaml:"id"`
	Secret         string `yaml:"secret"`
	WSURL          string `yaml:"ws_url"`
	// KickedCooldown is how long weibao leaves the robot alone after another
	// connection took it over (websocket mode); weibao wecom resume ends it
	// early. Default 30 min.
	KickedCooldown time.Duration `yaml:"kicked_cooldown"`
}

type Campus struct {
	Code string  `yaml:"code"`
	Name string  `yaml:"name"`
	Lat  float64 `yaml:"lat"`
	Lng  float64 `yaml:"lng"`
}

type Ward struct {
	Code   string `yaml:"code"`
	Name   string `yaml:"name"`
	Campus string `yaml:"campus"`
	ChatID string `yaml:"chat_id"`
	// WebhookKey is the key of the ward group's robot webhook (消息推送), the
	// only way weibao can speak first in that group in robot callback mode.
	// A secret: set it in the uncommitted production file or through
	// WardWebhookEnv(Code).
	WebhookKey string `yaml:"webhook_key"`
	// DepartmentID names the ward's WeCom department: its members are read
	// into the roster as the ward's nurses at start and daily. 0: none.
	DepartmentID int `yaml:"department_id"`
	// HeadNurse is the ward's head nurse (护士长), who joins the war room of
	// a hospital-wide or P1 fault reported from her ward.
	HeadNurse string `yaml:"head_nurse"`
}

// WardWebhookEnv names the environment variable that overrides a ward's
// webhook_key: WEIBAO_WARD_<CODE>_WEBHOOK_KEY, the code upper-cased with
// "-" written as "_" (med-icu → WEIBAO_WARD_MED_ICU_WEBHOOK_KEY).
func WardWebhookEnv(code string) string {
	return "WEIBAO_WARD_" + strings.ToUpper(strings.ReplaceAll(code, "-", "_")) + "_WEBHOOK_KEY"
}

type Person struct {
	UserID string `yaml:"userid"`
	Name   string `yaml:"name"`
	Role   string `yaml:"role"`
	Mobile string `yaml:"mobile"`
	Ward   string `yaml:"ward"`
}

type Category struct {
	Code       string   `yaml:"code"`
	Name       string   `yaml:"name"`
	Type       string   `yaml:"type"`
	Difficulty string   `yaml:"difficulty"`
	Keywords   []string `yaml:"keywords"`
	SelfHelp   string   `yaml:"self_help"`
}

//go:embed defaults.yaml
var defaultsYAML []byte

//go:embed demo.yaml
var demoYAML []byte

// DefaultPath is read when --config is not given and the file exists.
const DefaultPath = "configs/weibao.yaml"

// Load reads the defaults, then the file at path (DefaultPath when empty; with
// no file at all, the embedded demo), then the environment through getenv.
func Load(path string, getenv func(string) string) (*Config, error) {
	var c Config
	if err := decode("defaults.yaml", defaultsYAML, &c); err != nil {
		return nil, err
	}
	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decode(path, b, &c); err != nil {
			return nil, err
		}
	case !explicit && errors.Is(err, os.ErrNotExist):
		c.Embedded = true
		if err := decode("demo.yaml", demoYAML, &c); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem(), "WEIBAO", getenv); err != nil {
		return nil, err
	}
	for i := range c.Wards {
		if k := getenv(WardWebhookEnv(c.Wards[i].Code)); k != "" {
			c.Wards[i].WebhookKey = k
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.SLA, c.Calendar, err = loadSLA(c.Escalation.SLAFile); err != nil {
		return nil, fmt.Errorf("config: escalation.sla_file: %w", err)
	}
	c.AnalysisHours = c.Calendar
	if len(c.Reports.AnalysisHours) > 0 {
		if c.AnalysisHours, err = c.Calendar.WithHours(c.Reports.AnalysisHours); err != nil {
			return nil, fmt.Errorf("config: reports.analysis_hours: %w", err)
		}
	}
	c.Reports.Jobs = c.Reports.Jobs.withDefaults()
	c.Knowledge.Jobs = c.Knowledge.Jobs.withDefaults()
	return &c, nil
}

// loadSLA reads the policy and calendar from path (configs/sla.yaml), or
// takes their built-in defaults, which equal that file.
func loadSLA(path string) (sla.Policy, *calendar.Calendar, error) {
	p, calCfg := sla.DefaultPolicy(), calendar.DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return p, nil, err
		}
		if p, err = sla.ParsePolicy(b); err != nil {
			return p, nil, err
		}
		if calCfg, err = calendar.ParseConfig(b); err != nil {
			return p, nil, err
		}
	}
	cal, err := calendar.New(calCfg)
	if err != nil {
		return p, nil, err
	}
	p.Calendar = cal
	return p, cal, nil
}

func decode(name string, b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

// applyEnv overrides scalar fields from WEIBAO_<PATH>. Lists (wards, people…)
// are only set in the file. An inlined struct (a package's own Config
// embedded with `yaml:",inline"`) shares its parent's path, as in YAML.
// fromFile returns what the file NAME_FILE names holds (a mounted secret,
// outside the repository, as gitea's __FILE), or s, NAME's own value, when
// it is unset.
func fromFile(name, s string, getenv func(string) string) (string, error) {
	p := getenv(name + "_FILE")
	switch {
	case p == "":
		return s, nil
	case s != "":
		return "", fmt.Errorf("config: %s and %s_FILE are both set", name, name)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("config: %s_FILE: %w", name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func applyEnv(v reflect.Value, prefix string, getenv func(string) string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if tag == "" && opts == "inline" && fv.Kind() == reflect.Struct {
			if err := applyEnv(fv, prefix, getenv); err != nil {
				return err
			}
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		if fv.Kind() == reflect.Struct {
			if err := applyEnv(fv, name, getenv); err != nil {
				return err
			}
			continue
		}
		switch fv.Kind() {
		case reflect.String, reflect.Int64, reflect.Int, reflect.Bool:
		default:
			continue // lists, maps and pointers are set only in the file
		}
		s := getenv(name)
		if fv.Kind() == reflect.String {
			var err error
			if s, err = fromFile(name, s, getenv); err != nil {
				return err
			}
		}
		if s == "" {
			continue
		}
		switch fv.Kind() {
		case reflect.String:
			fv.SetString(s)
		case reflect.Int64:
			// A duration is written as in YAML (3m, 90s); a bare number is
			// nanoseconds, as it always was.
			if d, err := time.ParseDuration(s); err == nil && fv.Type() == reflect.TypeFor[time.Duration]() {
				fv.SetInt(int64(d))
				break
			}
			fallthrough
		case reflect.Int:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a whole number", name, s)
			}
			fv.SetInt(n)
		case reflect.Bool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not true or false", name, s)
			}
			fv.SetBool(b)
		}
	}
	return nil
}

func (c *Config) validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
	}
	if c.Server.Addr == "" {
		return bad("server.addr", "must not be empty")
	}
	for _, p := range c.Server.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return bad("server.trusted_proxies", "%q is neither an IP address nor a CIDR", p)
		}
	}
	if c.Server.PublicURL != "" {
		if u, err := url.Parse(c.Server.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
			return bad("server.public_url", "%q is not an absolute URL", c.Server.PublicURL)
		}
	}
	if c.Server.AdminToken != "" {
		// One token shared by everyone names nobody in the audit log and has no role.
		return bad("server.admin_token", "is removed: make each person a token with weibao token create --person <userid> --role lead|engineer|viewer")
	}
	switch c.Database.Driver {
	case "sqlite", "mysql":
	default:
		return bad("database.driver", "%q is neither sqlite nor mysql", c.Database.Driver)
	}
	if c.Database.DSN == "" {
		return bad("database.dsn", "must not be empty")
	}
	if c.Database.ReadDSN != "" && c.Database.Driver != "mysql" {
		return bad("database.read_dsn", "a read replica needs the mysql driver")
	}
	if c.Redis.Prefix == "" || strings.ContainsAny(c.Redis.Prefix, " {}") {
		return bad("redis.prefix", "must be non-empty, without spaces or braces (e.g. weibao:)")
	}
	if c.Redis.URL != "" {
		// Sentinel and Cluster URLs may list hosts comma-separated, which
		// url.Parse refuses; redisstore reads the rest.
		switch scheme, _, _ := strings.Cut(c.Redis.URL, "://"); scheme {
		case "redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		default:
			return bad("redis.url", "is not a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL") // it may hold a password
		}
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return bad("timezone", "%v", err)
	}
	c.Location = loc
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "%q is neither text nor json", c.Log.Format)
	}
	if c.Dialog.Timeout < 30*time.Second || c.Dialog.Timeout > time.Hour {
		return bad("dialog.timeout", "%s is not between 30s and 1h", c.Dialog.Timeout)
	}
	if err := c.WeCom.validate(); err != nil {
		return err
	}
	if err := c.Records.validate(c); err != nil {
		return err
	}
	return c.validateDirectory()
}

func (w *WeCom) validate() error {
	if w.CallbackWindow < 30*time.Second || w.CallbackWindow > time.Hour {
		return fmt.Errorf("config: wecom.callback_window: %s is not between 30s and 1h", w.CallbackWindow)
	}
	if w.APIBase == "" {
		return errors.New("config: wecom.api_base: must not be empty")
	}
	if u, err := url.Parse(w.APIBase); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("config: wecom.api_base: %q is not an absolute URL", w.APIBase)
	}
	for key, v := range map[string]string{"wecom.encoding_aes_key": w.EncodingAESKey, "wecom.bot.encoding_aes_key": w.Bot.EncodingAESKey} {
		if v != "" && len(v) != 43 {
			return fmt.Errorf("config: %s: must be 43 characters, has %d", key, len(v))
		}
	}
	switch w.Bot.Mode {
	case "callback", "websocket":
	default:
		return fmt.Errorf("config: wecom.bot.mode: %q is neither callback nor websocket", w.Bot.Mode)
	}
	return nil
}

var (
	roles        = []string{"nurse", "engineer", "lead", "admin"}
	types        = []string{"server", "software", "network", "terminal"}
	difficulties = []string{"simple", "routine", "other"}
)

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func (c *Config) validateDirectory() error {
	campuses := map[string]bool{}
	for i, x := range c.Campuses {
		if x.Code == "" || campuses[x.Code] {
			return fmt.Errorf("config: campuses[%d].code: %q is empty or repeated", i, x.Code)
		}
		campuses[x.Code] = true
	}
	wards := map[string]bool{}
	chats := map[string]bool{}
	envs := map[string]string{}
	depts := map[int]string{}
	firstDept := -1
	for i, w := range c.Wards {
		switch {
		case w.Code == "" || wards[w.Code]:
			return fmt.Errorf("config: wards[%d].code: %q is empty or repeated", i, w.Code)
		case w.Name == "":
			return fmt.Errorf("config: wards[%d].name: must not be empty", i)
		case w.Campus != "" && !campuses[w.Campus]:
			return fmt.Errorf("config: wards[%d].campus: %q is not a configured campus", i, w.Campus)
		case w.ChatID != "" && chats[w.ChatID]:
			return fmt.Errorf("config: wards[%d].chat_id: %q is mapped to two wards", i, w.ChatID)
		case w.WebhookKey != "" && w.ChatID == "":
			// The key is looked up by the group a ticket came from.
			return fmt.Errorf("config: wards[%d].webhook_key: ward %q has no chat_id to use it for", i, w.Code)
		case envs[WardWebhookEnv(w.Code)] != "":
			return fmt.Errorf("config: wards[%d].code: %q and %q share the variable %s", i, envs[WardWebhookEnv(w.Code)], w.Code, WardWebhookEnv(w.Code))
		case w.DepartmentID < 0:
			return fmt.Errorf("config: wards[%d].department_id: %d is not a WeCom department id", i, w.DepartmentID)
		case w.DepartmentID > 0 && depts[w.DepartmentID] != "":
			// Its members would be nurses of two wards.
			return fmt.Errorf("config: wards[%d].department_id: %d is ward %q's too", i, w.DepartmentID, depts[w.DepartmentID])
		}
		if w.DepartmentID > 0 {
			depts[w.DepartmentID] = w.Code
			if firstDept < 0 {
				firstDept = i
			}
		}
		wards[w.Code], chats[w.ChatID] = true, w.ChatID != ""
		envs[WardWebhookEnv(w.Code)] = w.Code
	}
	if firstDept >= 0 && (c.WeCom.CorpID == "" || c.WeCom.Secret == "") {
		return fmt.Errorf("config: wards[%d].department_id: reading a WeCom department needs the app's wecom.corp_id and wecom.secret (WEIBAO_WECOM_SECRET)", firstDept)
	}
	users := map[string]bool{}
	for i, p := range c.People {
		switch {
		case p.UserID == "" || users[p.UserID]:
			return fmt.Errorf("config: people[%d].userid: %q is empty or repeated", i, p.UserID)
		case !oneOf(p.Role, roles):
			return fmt.Errorf("config: people[%d].role: %q is not one of %s", i, p.Role, strings.Join(roles, ", "))
		case p.Ward != "" && !wards[p.Ward]:
			return fmt.Errorf("config: people[%d].ward: %q is not a configured ward", i, p.Ward)
		case p.Mobile != "" && !validMobile(p.Mobile):
			return fmt.Errorf("config: people[%d].mobile: not an 11-digit mainland mobile number", i)
		}
		users[p.UserID] = true
	}
	cats := map[string]bool{}
	for i, k := range c.Categories {
		switch {
		case k.Code == "" || cats[k.Code]:
			return fmt.Errorf("config: categories[%d].code: %q is empty or repeated", i, k.Code)
		case k.Name == "":
			return fmt.Errorf("config: categories[%d].name: must not be empty", i)
		case !oneOf(k.Type, types):
			return fmt.Errorf("config: categories[%d].type: %q is not one of %s", i, k.Type, strings.Join(types, ", "))
		case !oneOf(k.Difficulty, difficulties):
			return fmt.Errorf("config: categories[%d].difficulty: %q is not one of %s", i, k.Difficulty, strings.Join(difficulties, ", "))
		}
		cats[k.Code] = true
	}
	if len(c.Categories) == 0 {
		return errors.New("config: categories: at least one fault category is needed")
	}
	return c.validateResponse()
}

func validMobile(s string) bool {
	if len(s) != 11 || s[0] != '1' {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// OnCall seeds the on-call roster (bot/roster); the admin API edits it at run
// time. Times are local (Timezone).
type OnCall struct {
	Lead      string           `yaml:"lead"`
	Start     string           `yaml:"start"`
	Shift     time.Duration    `yaml:"shift"`
	Primary   []string         `yaml:"primary"`
	Backup    []string         `yaml:"backup"`
	Overrides []OnCallOverride `yaml:"overrides"`
}

type OnCallOverride struct {
	Date    string `yaml:"date"`
	Primary string `yaml:"primary"`
	Backup  string `yaml:"backup"`
}

// Escalation is the paging policy (bot/escalation); empty lists take its defaults.
type Escalation struct {
	SLAFile   string            `yaml:"sla_file"`
	Levels    []EscalationLevel `yaml:"levels"`
	Points    []EscalationPoint `yaml:"points"`
	Reconcile time.Duration     `yaml:"reconcile"`
}

type EscalationLevel struct {
	Level       int             `yaml:"level"`
	To          string          `yaml:"to"`
	Channels    []pager.Channel `yaml:"channels"`
	After       time.Duration   `yaml:"after"`
	UrgentAfter time.Duration   `yaml:"urgent_after"`
}

type EscalationPoint struct {
	Percent int `yaml:"percent"`
	Level   int `yaml:"level"`
}

// Pager configures phone and SMS providers (sla/pager): the registry's
// routes and call claim at the top, each provider's own Config under its
// name. None configured means pages are only logged.
type Pager struct {
	pager.Config `yaml:",inline"`
	Aliyun       aliyun.Config  `yaml:"aliyun"`
	Tencent      tencent.Config `yaml:"tencent"`
	Webhook      webhook.Config `yaml:"webhook"`
}
