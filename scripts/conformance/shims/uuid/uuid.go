// A stand-in for github.com/google/uuid (not packaged in Debian 12): NewString, a random v4 UUID.
package uuid

import (
	"crypto/rand"
	"fmt"
)

// NewString returns a random (version 4) UUID as a string.
func NewString() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
