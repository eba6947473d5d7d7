package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// sessions is an Authorizer of an application's own: PubNub clients send
// the session token the application gave them as their auth key (the SDKs'
// authKey setting), and it maps the token to a user. A user acts only as
// themselves, on the lobby and on their own room.
type sessions map[string]string // token -> user

func (s sessions) Authorize(_ context.Context, r httpapi.Request) (httpapi.Denied, error) {
	user, ok := s[r.Auth]
	if !ok || r.UUID != "" && r.UUID != user {
		return httpapi.Denied{All: true}, nil // unknown token, or acting for someone else
	}
	var denied httpapi.Denied
	for _, ch := range r.Channels {
		if name := strings.TrimSuffix(ch, engine.PresenceSuffix); name != "lobby" && name != "room."+user {
			denied.Channels = append(denied.Channels, ch) // copies: r's slices are reused
		}
	}
	denied.Groups = slices.Clone(r.Groups) // no channel groups for anyone
	return denied, nil
}

// The handler mounted in an application's own http.ServeMux, beside routes
// of its own, with the application's own authorization: PubNub SDKs pointed
// at the application's server work unchanged.
func Example_serveMux() {
	eng, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	api, err := httpapi.New(eng, httpapi.Config{Authorizer: sessions{"tok-a": "alice", "tok-b": "bob"}})
	if err != nil {
		panic(err)
	}
	defer api.Close() // also on shutdown: see http.Server.RegisterOnShutdown

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	// PubNub's paths live under these prefixes. http.ServeMux redirects a path
	// holding "." or ".." segments to its cleaned form; PubNub allows such
	// channel names, so a server that must serve them routes these prefixes
	// itself, before the mux (as cmd/presenced does).
	for _, prefix := range []string{"/v2/presence/", "/v2/subscribe/", "/v1/channel-registration/", "/time/"} {
		mux.Handle(prefix, api)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, path := range []string{
		"/healthz",
		"/v2/presence/sub-key/demo/channel/lobby,room.alice/heartbeat?uuid=alice&auth=tok-a",
		"/v2/presence/sub-key/demo/channel/room.bob/heartbeat?uuid=alice&auth=tok-a",
		"/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&auth=tok-b",
		"/v2/presence/sub-key/demo/channel/lobby?auth=tok-b",
		"/v2/presence/sub-key/demo/channel/lobby",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 ok
	// 200 {"status":200,"message":"OK","service":"Presence"}
	// 403 {"message":"Forbidden","payload":{"channels":["room.bob"]},"error":true,"service":"Access Manager","status":403}
	// 403 {"message":"Forbidden","payload":{"channels":[]},"error":true,"service":"Access Manager","status":403}
	// 200 {"status":200,"message":"OK","service":"Presence","uuids":["alice"],"occupancy":1}
	// 403 {"message":"Forbidden","payload":{"channels":[]},"error":true,"service":"Access Manager","status":403}
}
