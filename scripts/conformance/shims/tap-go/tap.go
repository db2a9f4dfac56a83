// A stand-in for github.com/mndrix/tap-go (not packaged in Debian 12): the subset of its API the
// runtime-tools validation programs and runtimetest use, printing TAP version 13 the same way.
package tap

import (
	"fmt"
	"io"
	"os"
	"strings"

	yaml "gopkg.in/yaml.v3"
)

// T is a TAP producer.
type T struct {
	nextTestNumber *int
	todo           bool
	Writer         io.Writer
}

// New creates a TAP producer writing to stdout.
func New() *T {
	n := 1
	return &T{nextTestNumber: &n, Writer: os.Stdout}
}

func (t *T) printf(format string, a ...interface{}) { fmt.Fprintf(t.Writer, format, a...) }

// Header prints the TAP version line and, when testCount > 0, the plan.
func (t *T) Header(testCount int) {
	t.printf("TAP version 13\n")
	if testCount > 0 {
		t.printf("1..%d\n", testCount)
	}
}

// Ok reports one test.
func (t *T) Ok(test bool, description string) {
	ok := "ok"
	if !test {
		ok = "not ok"
	}
	if t.todo {
		t.printf("%s %d # TODO %s\n", ok, *t.nextTestNumber, description)
	} else {
		t.printf("%s %d - %s\n", ok, *t.nextTestNumber, description)
	}
	*t.nextTestNumber++
}

// Fail reports a failing test.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Pass reports a passing test.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Skip reports count skipped tests.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.printf("ok %d # SKIP %s\n", *t.nextTestNumber, description)
		*t.nextTestNumber++
	}
}

// Todo returns a producer whose tests are TODO (they do not count as failures).
func (t *T) Todo() *T {
	return &T{nextTestNumber: t.nextTestNumber, todo: true, Writer: t.Writer}
}

// Count is the number of tests reported so far.
func (t *T) Count() int { return *t.nextTestNumber - 1 }

// AutoPlan prints the plan for the tests reported so far.
func (t *T) AutoPlan() { t.printf("1..%d\n", t.Count()) }

// Diagnostic prints a comment line per line of message.
func (t *T) Diagnostic(message string) {
	t.printf("# %s\n", strings.Replace(strings.TrimRight(message, "\n"), "\n", "\n# ", -1))
}

// Diagnosticf is Diagnostic with a format.
func (t *T) Diagnosticf(format string, a ...interface{}) { t.Diagnostic(fmt.Sprintf(format, a...)) }

// YAML prints a YAML block attached to the previous test.
func (t *T) YAML(message interface{}) error {
	b, err := yaml.Marshal(message)
	if err != nil {
		return err
	}
	t.printf("  ---\n  %s  ...\n", strings.Replace(string(b), "\n", "\n  ", strings.Count(string(b), "\n")-1))
	return nil
}
