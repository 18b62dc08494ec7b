// gophercloud-probe: reads one image twice through a Glance v2 endpoint with
// gophercloud, the Go SDK under terraform-provider-openstack, configured the
// two ways a Go tool points gophercloud at imgcache (tests/interop/run.sh
// builds it from Debian's golang-github-gophercloud-gophercloud-dev, offline,
// GOPATH mode; checks.py runs it and judges the output):
//
//	-style manual     ServiceClient{Endpoint: BASE/, ResourceBase: BASE/v2/},
//	                  what openstack.NewImageServiceV2 builds from a catalog
//	                  entry BASE (a Go program with its own endpoint setting)
//	-style terraform  ServiceClient{Endpoint: BASE/v2/, ResourceBase: ""},
//	                  what terraform-provider-openstack builds from
//	                  endpoint_overrides = { image = "BASE/v2/" }
//
// No Keystone: the token is set on the ProviderClient as a token from
// Keystone would be. Prints one JSON line per read: the URL every request
// went to, the status, Cache-Status and the image's id and name.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/gophercloud/gophercloud"
	"github.com/gophercloud/gophercloud/openstack"
	"github.com/gophercloud/gophercloud/openstack/imageservice/v2/images"
)

// recorder notes the URL of every request gophercloud sends.
type recorder struct {
	next http.RoundTripper
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL.String())
	return r.next.RoundTrip(req)
}

type read struct {
	Read        int      `json:"read"`
	URLs        []string `json:"urls"`
	Status      int      `json:"status"`
	CacheStatus string   `json:"cache_status"`
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Error       string   `json:"error,omitempty"`
}

func main() {
	style := flag.String("style", "manual", "manual or terraform")
	base := flag.String("base", "", "imgcache's URL, e.g. http://127.0.0.1:8080")
	token := flag.String("token", "", "the caller's token (X-Auth-Token)")
	imageID := flag.String("image", "", "image id to read")
	reads := flag.Int("reads", 2, "how many times to read it")
	flag.Parse()
	if *base == "" || *token == "" || *imageID == "" {
		fmt.Fprintln(os.Stderr, "usage: gophercloud-probe -style manual|terraform -base URL -token T -image ID")
		os.Exit(2)
	}
	root := strings.TrimRight(*base, "/") + "/"

	// NewClient only parses the identity URL; nothing is sent to it.
	provider, err := openstack.NewClient(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rec := &recorder{next: http.DefaultTransport}
	provider.HTTPClient = http.Client{Transport: rec}
	provider.SetToken(*token)

	client := &gophercloud.ServiceClient{ProviderClient: provider, Type: "image"}
	switch *style {
	case "manual":
		client.Endpoint = root
		client.ResourceBase = root + "v2/"
	case "terraform":
		client.Endpoint = root + "v2/"
		client.ResourceBase = ""
	default:
		fmt.Fprintln(os.Stderr, "-style must be manual or terraform")
		os.Exit(2)
	}

	out := json.NewEncoder(os.Stdout)
	failed := false
	for i := 1; i <= *reads; i++ {
		rec.urls = nil
		r := images.Get(client, *imageID)
		line := read{Read: i, CacheStatus: r.Header.Get("Cache-Status")}
		image, err := r.Extract()
		if err != nil {
			line.Error = err.Error()
			failed = true
		} else {
			line.Status, line.ID, line.Name = http.StatusOK, image.ID, image.Name
		}
		line.URLs = append([]string{}, rec.urls...)
		if err := out.Encode(line); err != nil {
			os.Exit(1)
		}
	}
	if failed {
		os.Exit(1)
	}
}
