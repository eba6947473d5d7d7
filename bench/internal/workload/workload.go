// Package workload generates the inputs of the benchmarks: uuids, channel
// names, the layout of memberships over channels, the sizes to run at, and a
// cheap per-goroutine random source.
//
// Everything here is deterministic: the same index always gives the same
// name, so every implementation under benchmark sees the same workload.
package workload

import (
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"unsafe"
)

// UUIDLen is the length of every uuid UUID returns: the 36 characters of the
// canonical text form of an RFC 4122 uuid.
const UUIDLen = 36

// ChannelLen is the length of every channel name Channel returns.
const ChannelLen = 16

const hexDigits = "0123456789abcdef"

// UUID returns the i-th uuid of the workload: a version-4-looking uuid whose
// last 48 bits are i and whose other bits are a hash of i, so that distinct
// indices below 2^48 give distinct uuids. Each call allocates a new string.
func UUID(i int) string {
	var b [UUIDLen]byte
	AppendUUID(b[:0], i)
	return string(b[:])
}

// AppendUUID appends the i-th uuid to dst, as UUID, and returns the result.
func AppendUUID(dst []byte, i int) []byte {
	hi := mix(uint64(i))
	lo := uint64(i) & (1<<48 - 1)
	var b [UUIDLen]byte
	put := func(at, digits int, v uint64) {
		for k := digits - 1; k >= 0; k-- {
			b[at+k] = hexDigits[v&0xf]
			v >>= 4
		}
	}
	put(0, 8, hi>>32)
	b[8] = '-'
	put(9, 4, hi>>16)
	b[13] = '-'
	b[14] = '4'
	put(15, 3, hi>>4)
	b[18] = '-'
	b[19] = '8'
	put(20, 3, hi)
	b[23] = '-'
	put(24, 12, lo)
	return append(dst, b[:]...)
}

// Channel returns the name of the i-th channel, "room-" and 11 digits (16
// characters for i below 10^11). Each call allocates a new string.
func Channel(i int) string {
	var b [ChannelLen]byte
	copy(b[:], "room-")
	v := uint64(i)
	for k := ChannelLen - 1; k >= 5; k-- {
		b[k] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:])
}

// mix is the splitmix64 finalizer: a bijection of uint64 that spreads bits.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Rand is a xorshift64* random source for one goroutine. It does not
// allocate and is not safe for concurrent use.
type Rand struct{ s uint64 }

// NewRand returns a Rand seeded from seed; any seed, zero included, works.
func NewRand(seed uint64) *Rand { return &Rand{s: mix(seed) | 1} }

// Uint64 returns a pseudo-random uint64.
func (r *Rand) Uint64() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}

// Intn returns a pseudo-random int in [0, n); n must be positive.
func (r *Rand) Intn(n int) int {
	// Lemire's multiply-shift: no division, bias below 2^-32 for n < 2^32.
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// Label formats a count the way benchmark names show it: 1000 is "1k",
// 1000000 is "1M"; counts that are not a whole number of thousands print as
// they are.
func Label(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1_000 && n%1_000 == 0:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}

// ParseCount reads a count written as Label writes it ("10M", "100k", "500").
func ParseCount(s string) (int, error) {
	mult := 1
	switch {
	case len(s) > 1 && s[len(s)-1] == 'M':
		mult, s = 1_000_000, s[:len(s)-1]
	case len(s) > 1 && s[len(s)-1] == 'k':
		mult, s = 1_000, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("workload: bad count %q", s)
	}
	return n * mult, nil
}

// Environment variables that select the sizes of a run.
const (
	// EnvFull, set to 1, runs the benchmarks at the sizes of the issue
	// (100k and 1M members); unset, they run at smoke-test sizes.
	EnvFull = "PRESENCE_BENCH_FULL"
	// EnvMembers, set to a count such as 10M, adds that many members to the
	// benchmarks that take a members=N size (Refresh and Memory).
	EnvMembers = "PRESENCE_BENCH_MEMBERS"
	// EnvRotate, set to k, runs the implementations in their usual order
	// rotated left by k, so that repeated runs can give each one every
	// position.
	EnvRotate = "PRESENCE_BENCH_ROTATE"
)

// Sizes are the sizes one run of the benchmarks uses.
type Sizes struct {
	// Full reports whether these are the full sizes (EnvFull=1).
	Full bool
	// Members are the members=N sizes of Refresh, Join, Leave, Churn and
	// Memory.
	Members []int
	// Extra are sizes added by EnvMembers, run only by Refresh and Memory.
	Extra []int
	// Shape is the number of memberships of the shape=... layouts.
	Shape int
	// MassTimeout is the number of members that time out together.
	MassTimeout int
	// HereNow are the channel sizes of BenchmarkHereNow.
	HereNow []int
	// Page is the number of uuids listed by a here-now page.
	Page int
	// Rotate is how far to rotate the order of the implementations (EnvRotate).
	Rotate int
}

// FromEnv returns the sizes selected by the environment (see EnvFull and
// EnvMembers). An unparsable EnvMembers is an error.
func FromEnv() (Sizes, error) {
	s := Sizes{
		Members:     []int{1_000},
		Shape:       1_000,
		MassTimeout: 1_000,
		HereNow:     []int{100, 1_000},
		Page:        100,
	}
	if os.Getenv(EnvFull) == "1" {
		s = Sizes{
			Full:        true,
			Members:     []int{100_000, 1_000_000},
			Shape:       1_000_000,
			MassTimeout: 1_000_000,
			HereNow:     []int{1_000, 1_000_000},
			Page:        1_000,
		}
	}
	if v := os.Getenv(EnvMembers); v != "" {
		n, err := ParseCount(v)
		if err != nil {
			return Sizes{}, fmt.Errorf("%s: %w", EnvMembers, err)
		}
		s.Extra = append(s.Extra, n)
	}
	if v := os.Getenv(EnvRotate); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 0 {
			return Sizes{}, fmt.Errorf("%s: bad rotation %q", EnvRotate, v)
		}
		s.Rotate = k
	}
	return s, nil
}

// Scratch is a buffer a goroutine writes uuids into, as a server parses the
// uuid of a request into a buffer that is hot in cache when it calls the
// presence engine. Without it, a benchmark that picks one of a million uuids
// at random would mostly measure the cache misses of reading its own uuid
// strings, which no server pays.
type Scratch struct{ b [UUIDLen]byte }

// UUID writes the i-th uuid into s and returns a string that aliases s: it is
// valid until the next call, and the callee must not keep it. Use it only for
// calls that keep no uuid, such as the refresh of a present member.
func (s *Scratch) UUID(i int) string {
	AppendUUID(s.b[:0], i)
	return unsafe.String(&s.b[0], UUIDLen)
}
