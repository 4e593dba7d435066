//go:build unix

package bridge

import "syscall"

// canPeek: reader.park works here.
const canPeek = true

// peek reports whether the socket fd has something to read: data, its end,
// or an error. It does not block, and takes nothing.
func peek(fd uintptr, buf []byte) bool {
	n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n > 0 || (err != syscall.EAGAIN && err != syscall.EWOULDBLOCK)
}
