// Package catalog is weibao's one catalogue of the Chinese text that nurses,
// engineers and the project lead read. Code refers to entries by key; the
// wording lives in zh/*.yaml (one file per area, keys unique across files) and
// can be changed there, or overridden by a file named in the configuration,
// without touching logic.
package catalog

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed zh/*.yaml
var files embed.FS

// Catalog maps keys to templates. A template names fields in braces:
// "{no}" is replaced by the field's value and "{status:status}" by the
// catalogue entry "status.<value>", so codes render as words. A
// time.Duration field renders as people read it ("2小时22分", see Duration).
type Catalog struct{ m map[string]string }

// Load reads the embedded catalogue and then, if override is not empty, that
// YAML file, whose keys must already exist (a typo would otherwise silently
// add an unused entry).
func Load(override string) (*Catalog, error) {
	c := &Catalog{m: map[string]string{}}
	names, err := fs.Glob(files, "zh/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if err := c.merge(path.Base(name), b, false); err != nil {
			return nil, err
		}
	}
	if override != "" {
		b, err := os.ReadFile(override)
		if err != nil {
			return nil, fmt.Errorf("catalog override: %w", err)
		}
		if err := c.merge(override, b, true); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Default is the embedded catalogue; it cannot fail once the tests pass.
func Default() *Catalog {
	c, err := Load("")
	if err != nil {
		panic(err)
	}
	return c
}

func (c *Catalog) merge(name string, b []byte, override bool) error {
	var m map[string]string
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("catalog %s: %w", name, err)
	}
	for k, v := range m {
		_, exists := c.m[k]
		if override && !exists {
			return fmt.Errorf("catalog %s: unknown key %q", name, k)
		}
		if !override && exists {
			return fmt.Errorf("catalog %s: key %q defined twice", name, k)
		}
		c.m[k] = strings.TrimRight(v, "\n")
	}
	return nil
}

// Has reports whether key exists.
func (c *Catalog) Has(key string) bool { _, ok := c.m[key]; return ok }

// Text renders key with fields. A missing key renders as the key itself, so a
// gap shows up in tests and never as an empty message.
func (c *Catalog) Text(key string, fields map[string]any) string {
	t, ok := c.m[key]
	if !ok {
		return key
	}
	if !strings.Contains(t, "{") {
		return t
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(t[:i])
		b.WriteString(c.field(t[i+1:i+j], fields))
		t = t[i+j+1:]
	}
	b.WriteString(t)
	return b.String()
}

func (c *Catalog) field(name string, fields map[string]any) string {
	name, prefix, labelled := strings.Cut(name, ":")
	v, ok := fields[name]
	if !ok {
		return "{" + name + "}"
	}
	if d, ok := v.(time.Duration); ok {
		return c.Duration(d)
	}
	s := fmt.Sprint(v)
	if labelled {
		if l, ok := c.m[prefix+"."+s]; ok {
			return l
		}
	}
	return s
}

// Duration renders d for people, to the minute rounded down: "不足1分钟",
// "41分钟", "2小时22分", "3小时", "1天2小时". It is the one formatter of a
// duration anyone reads; templates get it by being given a time.Duration.
func (c *Catalog) Duration(d time.Duration) string {
	m := int(d / time.Minute)
	f := map[string]any{"d": m / (24 * 60), "h": m % (24 * 60) / 60, "m": m % 60}
	switch {
	case m <= 0:
		return c.Text("duration.zero", nil)
	case m < 60:
		return c.Text("duration.m", f)
	case m < 24*60 && m%60 == 0:
		return c.Text("duration.h", f)
	case m < 24*60:
		return c.Text("duration.hm", f)
	case m%(24*60) < 60:
		return c.Text("duration.d", f)
	}
	return c.Text("duration.dh", f)
}
