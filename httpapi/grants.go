package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/presenced/presence/engine"
)

// ErrInvalidGrants is returned, wrapped with the offending entry, by
// LoadGrants and NewGrantTable.
var ErrInvalidGrants = errors.New("httpapi: invalid grants")

// Grants is the source form of a GrantTable, and the JSON LoadGrants reads:
//
//	{
//	  "sub-c-1": {                                  sub key, or "*" for every sub key
//	    "auth-key-1": {                             auth key, or "*" for every request
//	      "channels": {"room.*": "rw", "lobby": "r"},
//	      "groups":   {"team-a": "rm"}
//	    },
//	    "*": {"channels": {"public.*": "r"}}
//	  }
//	}
//
// A pattern is a name, matched exactly, or a prefix followed by "*" ("room.*"
// matches "room.1" and "room.a.b", not "room"); "*" alone matches every name.
// A permission string holds any of r (read), w (write) and m (manage); ""
// grants nothing. Grants add up: a request gets the union of every entry
// that matches its sub key, its auth key (or "*") and the name.
type Grants map[string]map[string]AuthGrants

// AuthGrants are the grants of one auth key, by channel and by channel group
// pattern.
type AuthGrants struct {
	Channels map[string]string `json:"channels,omitempty"`
	Groups   map[string]string `json:"groups,omitempty"`
}

// GrantTable is a static Authorizer: auth keys mapped to channel and channel
// group patterns mapped to permissions, per sub key (see Grants). It decides:
//
//   - OpNone: allowed.
//   - OpRead, OpWrite: every named channel needs the permission on a channel
//     pattern, every group on a group pattern. A channel reached through a
//     group is covered by the group's grant, as with PubNub's Access Manager.
//   - OpManage: every group needs manage on a group pattern; the channels
//     added or removed need nothing of their own.
//   - A grant on a channel or group also covers its presence name (the name
//     followed by "-pnpres", which subscribe calls use to receive presence
//     events), as PubNub's Access Manager does; a pattern may also name
//     the presence name itself.
//   - A request that names nothing (global here now, listing the groups)
//     needs the permission on the pattern "*" itself: channels "*" for here
//     now, groups "*" for listing groups.
//
// A GrantTable is immutable and safe for concurrent use.
type GrantTable struct {
	subs map[string]map[string]*authGrants // sub key -> auth key -> grants
}

// presenceSuffix ends the presence name of a channel or group.
const presenceSuffix = engine.PresenceSuffix

// perm is a set of permissions.
type perm uint8

const (
	permRead perm = 1 << iota
	permWrite
	permManage
)

func opPerm(op Operation) perm {
	switch op {
	case OpRead:
		return permRead
	case OpWrite:
		return permWrite
	case OpManage:
		return permManage
	}
	return 0
}

// patterns are the grants of one auth key on one kind of name.
type patterns struct {
	exact    map[string]perm
	prefixes []prefixPerm
}

type prefixPerm struct {
	prefix string // "" for "*"
	perm   perm
}

type authGrants struct {
	channels, groups patterns
}

// LoadGrants reads a GrantTable from JSON in the form of Grants. Unknown
// fields, bad patterns and unknown permission letters are errors wrapping
// ErrInvalidGrants.
func LoadGrants(r io.Reader) (*GrantTable, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var g Grants
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidGrants, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: unexpected data after the JSON object", ErrInvalidGrants)
	}
	return NewGrantTable(g)
}

// NewGrantTable builds a GrantTable from g, which it does not keep.
func NewGrantTable(g Grants) (*GrantTable, error) {
	t := &GrantTable{subs: make(map[string]map[string]*authGrants, len(g))}
	for sk, auths := range g {
		if sk == "" {
			return nil, fmt.Errorf("%w: empty sub key", ErrInvalidGrants)
		}
		m := make(map[string]*authGrants, len(auths))
		for auth, ag := range auths {
			if auth == "" {
				return nil, fmt.Errorf("%w: sub key %q: empty auth key (use \"*\" for every request)", ErrInvalidGrants, sk)
			}
			var a authGrants
			var err error
			if a.channels, err = compile(ag.Channels); err != nil {
				return nil, fmt.Errorf("%w: sub key %q, auth key %q, channels: %v", ErrInvalidGrants, sk, auth, err)
			}
			if a.groups, err = compile(ag.Groups); err != nil {
				return nil, fmt.Errorf("%w: sub key %q, auth key %q, groups: %v", ErrInvalidGrants, sk, auth, err)
			}
			m[auth] = &a
		}
		t.subs[sk] = m
	}
	return t, nil
}

func compile(src map[string]string) (patterns, error) {
	p := patterns{exact: make(map[string]perm)}
	for pat, letters := range src {
		var pm perm
		for _, c := range letters {
			switch c {
			case 'r':
				pm |= permRead
			case 'w':
				pm |= permWrite
			case 'm':
				pm |= permManage
			default:
				return patterns{}, fmt.Errorf("pattern %q: unknown permission %q (want r, w or m)", pat, c)
			}
		}
		star := strings.IndexByte(pat, '*')
		switch {
		case pat == "":
			return patterns{}, errors.New("empty pattern")
		case star < 0:
			p.exact[pat] |= pm
		case star != len(pat)-1:
			return patterns{}, fmt.Errorf("pattern %q: \"*\" may only end a pattern", pat)
		default:
			p.prefixes = append(p.prefixes, prefixPerm{prefix: pat[:star], perm: pm})
		}
	}
	slices.SortFunc(p.prefixes, func(a, b prefixPerm) int { return strings.Compare(a.prefix, b.prefix) })
	return p, nil
}

func (p *patterns) of(name string) perm {
	pm := p.exact[name]
	for _, pp := range p.prefixes {
		if strings.HasPrefix(name, pp.prefix) {
			pm |= pp.perm
		}
	}
	return pm
}

// grantsFor returns the grants that apply to (subKey, auth): at most four
// entries, for the sub key or "*" and the auth key or "*".
func (g *GrantTable) grantsFor(subKey, auth string, dst []*authGrants) []*authGrants {
	for _, sk := range [2]string{subKey, "*"} {
		m := g.subs[sk]
		if m == nil {
			continue
		}
		if auth != "" && auth != "*" {
			if a := m[auth]; a != nil {
				dst = append(dst, a)
			}
		}
		if a := m["*"]; a != nil {
			dst = append(dst, a)
		}
		if sk == "*" {
			break
		}
	}
	return dst
}

// Authorize implements Authorizer; see GrantTable for the rules.
func (g *GrantTable) Authorize(_ context.Context, r Request) (Denied, error) {
	want := opPerm(r.Op)
	if want == 0 {
		return Denied{}, nil
	}
	var buf [4]*authGrants
	gs := g.grantsFor(r.SubKey, r.Auth, buf[:0])
	has := func(group bool, name string) bool {
		var pm perm
		base, pres := strings.CutSuffix(name, presenceSuffix)
		for _, a := range gs {
			p := &a.channels
			if group {
				p = &a.groups
			}
			pm |= p.of(name)
			if pres {
				pm |= p.of(base)
			}
		}
		return pm&want == want
	}
	var d Denied
	if len(r.Channels) == 0 && len(r.Groups) == 0 {
		d.All = !has(r.Op == OpManage, "*")
		return d, nil
	}
	if r.Op != OpManage {
		for _, ch := range r.NamedChannels() {
			if !has(false, ch) && !slices.Contains(d.Channels, ch) {
				d.Channels = append(d.Channels, ch)
			}
		}
	}
	for _, gr := range r.Groups {
		if !has(true, gr) && !slices.Contains(d.Groups, gr) {
			d.Groups = append(d.Groups, gr)
		}
	}
	return d, nil
}
