package console_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/presenced/presence/console"
	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

// The console mounted beside the PubNub API in a server's own mux. A
// browser opens /console/ and answers its password prompt with the token.
func Example() {
	e, err := engine.New(engine.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	api, err := httpapi.New(e, httpapi.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()
	const token = "use-a-long-random-token" // openssl rand -hex 16
	con, err := console.New(e, console.Config{Token: token})
	if err != nil {
		log.Fatal(err)
	}
	defer con.Close() // ends open pages' streams: call it at shutdown

	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path, password string) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			log.Fatal(err)
		}
		if password != "" {
			req.SetBasicAuth("operator", password)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		fmt.Print(res.StatusCode, " ", string(body))
	}
	get("/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice", "")
	fmt.Println()
	get("/console/api/channels?sub_key=demo", "")
	get("/console/api/channels?sub_key=demo", token)
	// Output:
	// 200 {"status":200,"message":"OK","service":"Presence"}
	// 401 401 Unauthorized: the console needs the token as the password
	// 200 {"sub_key":"demo","filter":"","channels":[{"channel":"lobby","occupancy":1}],"matched":1,"members":1,"next":null}
}
