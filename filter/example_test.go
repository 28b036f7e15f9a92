package filter_test

import (
	"errors"
	"fmt"
	"net/netip"

	"socktop/collect"
	"socktop/filter"
)

func ExampleParse() {
	f, err := filter.Parse("state time-wait ( sport = :5194 or dport = :5194 )")
	if err != nil {
		panic(err)
	}
	tw := collect.Socket{
		Proto:  collect.TCP,
		Family: 4,
		State:  collect.StateTimeWait,
		Local:  netip.MustParseAddrPort("127.0.0.1:40112"),
		Remote: netip.MustParseAddrPort("127.0.0.1:5194"),
	}
	fmt.Println(f.Match(&tw), f.States() == 1<<collect.StateTimeWait)

	_, err = filter.Parse("sport = :5194x")
	fmt.Println(err, errors.Is(err, filter.ErrBad))
	// Output:
	// true true
	// filter: column 10: expected a port number, found "5194x" in "sport = :5194x" true
}
