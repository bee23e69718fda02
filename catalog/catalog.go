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

	"gopkg.in/yaml.v3"
)

//go:embed zh/*.yaml
var files embed.FS

// Catalog maps keys to templates. A template names fields in braces:
// "{no}" is replaced by the field's value and "{status:status}" by the
// catalogue entry "status.<value>", so codes render as words.
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
	s := fmt.Sprint(v)
	if labelled {
		if l, ok := c.m[prefix+"."+s]; ok {
			return l
		}
	}
	return s
}
