package httpapi

import (
	"fmt"
	"net/url"
	"testing"
)

// BenchmarkHTTPHeartbeatState measures heartbeats of a present member that
// carry its state unchanged, as the JavaScript SDK's event engine sends with
// every heartbeat, through the handler: the state keyed by channel, or
// unkeyed (setState with withHeartbeat), on one channel and on three.
func BenchmarkHTTPHeartbeatState(b *testing.B) {
	const state = `{"mood":"happy","n":1}`
	for _, chs := range [][]string{{"ch1"}, {"ch1", "ch2", "ch3"}} {
		keyed := "{"
		for i, ch := range chs {
			if i > 0 {
				keyed += ","
			}
			keyed += fmt.Sprintf("%q:%s", ch, state)
		}
		keyed += "}"
		for _, form := range []struct{ name, state string }{{"keyed", keyed}, {"unkeyed", state}} {
			b.Run(fmt.Sprintf("form=%s/channels=%d", form.name, len(chs)), func(b *testing.B) {
				h := benchHandler(b, 0)
				list := chs[0]
				for _, ch := range chs[1:] {
					list += "," + ch
				}
				req := mustRequest(b, pre+"/channel/"+list+"/heartbeat?uuid=u1&heartbeat=300&state="+url.QueryEscape(form.state))
				w := newRecorder()
				h.ServeHTTP(w, req) // joins, with the state
				if w.status != 200 {
					b.Fatalf("%d: %s", w.status, w.body)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					w.reset()
					h.ServeHTTP(w, req)
					if w.status != 200 {
						b.Fatalf("%d: %s", w.status, w.body)
					}
				}
			})
		}
	}
}
