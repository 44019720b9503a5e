package main

import "net"

func splitHost(addr string) (string, string, error) { return net.SplitHostPort(addr) }

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
