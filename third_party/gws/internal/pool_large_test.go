//go:build amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x

package internal

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// 2GiB 以上的长度不能被 uint32 截断: 否则 Get 返回一个过小的缓冲区, 调用方切片时 panic.
// A length of 2GiB or more must not be truncated by uint32: Get returned a too small buffer
// (128 bytes for 1<<31+1), and the caller's slicing to the length panicked.
// 分配的内存不会被写入, 只占用虚拟地址空间.
// The memory is never written, so it only takes address space.
func TestBufferPool_GetLarge(t *testing.T) {
	var as = assert.New(t)
	var pool = NewBufferPool(128, 256*1024)
	for _, n := range []int{256*1024 + 1, 1<<31 + 1, 1<<32 + 200} {
		var buf = pool.Get(n)
		as.GreaterOrEqual(buf.Cap(), n, "Get(%d)", n)
		as.Equal(0, buf.Len())
		pool.Put(buf)
	}
}
