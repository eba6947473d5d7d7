package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// A heartbeat makes alice present on the lobby; Here Now lists her.
func Example() {
	eng, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	h, err := httpapi.New(eng, httpapi.Config{})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, string(body))
	}
	get("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60")
	get("/v2/presence/sub-key/demo/channel/lobby")
	get("/v2/presence/sub-key/demo/uuid/alice")
	// Output:
	// 200 {"status":200,"message":"OK","service":"Presence"}
	// 200 {"status":200,"message":"OK","service":"Presence","uuids":["alice"],"occupancy":1}
	// 200 {"status":200,"message":"OK","payload":{"channels":["lobby"]},"service":"Presence"}
}

// A grant table lets auth key "k1" read the rooms and anyone read the lobby.
func ExampleLoadGrants() {
	grants, err := httpapi.LoadGrants(strings.NewReader(`{
	  "demo": {
	    "k1": {"channels": {"room.*": "r"}},
	    "*":  {"channels": {"lobby": "r"}}
	  }
	}`))
	if err != nil {
		panic(err)
	}
	eng, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	h, err := httpapi.New(eng, httpapi.Config{Authorizer: grants})
	if err != nil {
		panic(err)
	}
	for _, target := range []string{
		"/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=bob",
		"/v2/presence/sub-key/demo/channel/room.1/heartbeat?uuid=bob",
		"/v2/presence/sub-key/demo/channel/room.1,secret/heartbeat?uuid=bob&auth=k1",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// 200 {"status":200,"message":"OK","service":"Presence"}
	// 403 {"message":"Forbidden","payload":{"channels":["room.1"]},"error":true,"service":"Access Manager","status":403}
	// 403 {"message":"Forbidden","payload":{"channels":["secret"]},"error":true,"service":"Access Manager","status":403}
}

// Sign computes the signature a client adds to a request for a sub key with
// a secret key.
func ExampleSign() {
	q := url.Values{"uuid": {"alice"}, "timestamp": {"1714564800"}}
	path := "/v2/presence/sub-key/sub-c-1/channel/lobby/heartbeat"
	q.Set("signature", httpapi.Sign("sec-c-1", "pub-c-1", http.MethodGet, path, q, nil))
	fmt.Println(path + "?" + q.Encode())
	// Output:
	// /v2/presence/sub-key/sub-c-1/channel/lobby/heartbeat?signature=v2.Y4gzNGy_Of0CVyXdOMUvIY3_TnP8-c70cF8GC-9TQJg&timestamp=1714564800&uuid=alice
}

// A client watches the lobby's presence events: its handshake returns a
// cursor at once, and its next call, holding until there is news, returns
// alice's join. (Both clocks are fixed here so that the output is too.)
func ExampleHandler_subscribe() {
	now := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	eng, err := engine.New(engine.Config{Now: now})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	h, err := httpapi.New(eng, httpapi.Config{Now: now})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, string(body))
		return body
	}
	var handshake struct {
		T struct{ T string } `json:"t"`
	}
	if err := json.Unmarshal(get("/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher"), &handshake); err != nil {
		panic(err)
	}
	get("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60")
	get("/v2/subscribe/demo/lobby-pnpres/0?uuid=watcher&tt=" + handshake.T.T)
	// Output:
	// 200 {"t":{"t":"17145647999999999","r":1},"m":[]}
	// 200 {"status":200,"message":"OK","service":"Presence"}
	// 200 {"t":{"t":"17145648000000000","r":1},"m":[{"a":"0","f":0,"p":{"t":"17145648000000000","r":1},"k":"demo","c":"lobby-pnpres","d":{"action":"join","uuid":"alice","timestamp":1714564800,"precise_timestamp":1714564800000,"occupancy":1},"b":"lobby-pnpres"}]}
}
