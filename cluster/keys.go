package cluster

import (
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"
)

// Keys. A member is one key of its channel's bucket,
//
//	<sub key>.<channel>.<uuid>
//
// each name base64url-encoded without padding, so that any name the engine
// accepts is a valid key token ('.' and '*' included). A channel group is
// one key of the groups bucket, <sub key>.<group>, its value the JSON list
// of its channels. Keys of one token are the node's own: tickKey in every
// member bucket, settingsKey in the groups bucket.
const (
	tickKey     = "_tick"
	settingsKey = "_settings"
)

var b64 = base64.RawURLEncoding

// memberKey returns the key of (subKey, channel, uuid).
func memberKey(subKey, channel, uuid string) string {
	var b strings.Builder
	b.Grow(b64.EncodedLen(len(subKey)) + b64.EncodedLen(len(channel)) + b64.EncodedLen(len(uuid)) + 2)
	writeToken(&b, subKey)
	b.WriteByte('.')
	writeToken(&b, channel)
	b.WriteByte('.')
	writeToken(&b, uuid)
	return b.String()
}

// groupKey returns the key of (subKey, group).
func groupKey(subKey, group string) string {
	var b strings.Builder
	writeToken(&b, subKey)
	b.WriteByte('.')
	writeToken(&b, group)
	return b.String()
}

func writeToken(b *strings.Builder, name string) {
	var buf [512]byte
	n := b64.EncodedLen(len(name))
	if n <= len(buf) {
		b64.Encode(buf[:n], []byte(name))
		b.Write(buf[:n])
		return
	}
	b.WriteString(b64.EncodeToString([]byte(name)))
}

// splitKey decodes a key of want tokens; ok is false for a key that is not
// one of ours.
func splitKey(key string, want int) (names [3]string, ok bool) {
	for i := range want {
		tok := key
		if i < want-1 {
			j := strings.IndexByte(key, '.')
			if j < 0 {
				return names, false
			}
			tok, key = key[:j], key[j+1:]
		} else if strings.IndexByte(key, '.') >= 0 {
			return names, false
		}
		b, err := b64.DecodeString(tok)
		if err != nil || len(b) == 0 {
			return names, false
		}
		names[i] = string(b)
	}
	return names, true
}

// bucketOf returns the member bucket of a channel: a hash of the sub key and
// the channel, so that a channel's members and events are in one stream.
func bucketOf(subKey, channel string, n int) int {
	if n == 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(subKey))
	h.Write([]byte{0})
	h.Write([]byte(channel))
	return int(h.Sum64() % uint64(n))
}

// memberBucket and groupBucket name the buckets of a Config.
func memberBucket(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }
func groupBucket(prefix string) string         { return prefix + "-groups" }

// streamOf and subjectPrefix are the stream behind a bucket and the prefix
// of its keys' subjects, as JetStream's key-value buckets name them.
func streamOf(bucket string) string      { return "KV_" + bucket }
func subjectPrefix(bucket string) string { return "$KV." + bucket + "." }

// Timetokens. Every node must stamp an event with the same timetoken, so a
// timetoken is derived from the stream: the time JetStream stored the message
// (in 100 ns units, like every timetoken), made strictly increasing in its
// bucket, and kept apart from every other bucket's by its residue modulo the
// number of buckets, so that a sub key's events, merged from several buckets,
// stay strictly increasing too.
//
// stamp returns the timetoken of a message of bucket b (of n) stored at ts
// (100 ns units), after one of the same bucket stamped prev (0 for none): ts
// moved down to the bucket's residue, or prev+n if that is not above prev.
func stamp(ts, prev int64, b, n int) int64 {
	tt := ts - ts%int64(n) + int64(b)
	if tt <= prev {
		tt = prev + int64(n)
	}
	return tt
}
