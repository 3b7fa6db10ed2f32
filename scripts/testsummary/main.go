// Command testsummary reads `go test -json` and prints what a person needs
// from it: the whole output of every failed test, every skipped test with
// its reason (a skip is not a pass, and must be seen), and each package's
// result. It exits non-zero when anything failed.
//
//	go test -json ./e2e/... | go run ./scripts/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	output := map[string][]string{} // package/test → its output lines
	var skipped, failed []string
	pkgFailed := false
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var ev event
		if err := json.Unmarshal(in.Bytes(), &ev); err != nil {
			fmt.Println(in.Text()) // build errors and the like are not JSON
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "build-output": // compiler errors (Go 1.24+ puts them in the stream)
			fmt.Print(ev.Output)
		case "output":
			output[key] = append(output[key], ev.Output)
		case "skip":
			if ev.Test != "" {
				skipped = append(skipped, key)
			}
		case "fail":
			if ev.Test == "" {
				pkgFailed = true
				fmt.Printf("FAIL\t%s\t%.1fs\n", ev.Package, ev.Elapsed)
				fmt.Print(strings.Join(output[key], ""))
			} else {
				failed = append(failed, key)
			}
		case "pass":
			if ev.Test == "" {
				fmt.Printf("ok\t%s\t%.1fs\n", ev.Package, ev.Elapsed)
			}
		}
	}
	for _, k := range failed {
		fmt.Printf("\n=== failed: %s\n%s", k, strings.Join(output[k], ""))
	}
	for _, k := range skipped {
		fmt.Printf("\nNOT RUN (a skip, not a pass): %s\n%s", k, lastLines(output[k], 3))
	}
	if pkgFailed || len(failed) > 0 {
		os.Exit(1)
	}
}

func lastLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
