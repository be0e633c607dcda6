package main

import "testing"

func TestParseGeoHeaders(t *testing.T) {
	for _, c := range []struct{ in, country, city string }{
		{"", "", ""},
		{"CF-IPCountry", "CF-IPCountry", ""},
		{"country=CF-IPCountry, city=CF-IPCity", "CF-IPCountry", "CF-IPCity"},
		{"city=X-City", "", "X-City"},
	} {
		country, city, err := parseGeoHeaders(c.in)
		if err != nil || country != c.country || city != c.city {
			t.Errorf("%q: %q %q %v", c.in, country, city, err)
		}
	}
	for _, bad := range []string{"region=X-Region", "country=", "country=Bad Header", "city=a:b"} {
		if _, _, err := parseGeoHeaders(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
