package auth_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rampart-rt/rampart/auth"
)

func ExampleNew() {
	secret := []byte("an-example-secret-of-at-least-32-bytes")
	v, err := auth.New(context.Background(), auth.Config{
		Algorithms: []string{"HS256"},
		HMACSecret: secret,
		Issuer:     "https://issuer.example.com",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	// A token as an identity provider would issue it.
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":   "alice",
		"iss":   "https://issuer.example.com",
		"exp":   time.Now().Add(time.Hour).Unix(),
		"roles": []string{"user"},
	}).SignedString(secret)

	claims, err := v.Verify(context.Background(), token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.Subject, claims.Roles)

	_, err = v.Verify(context.Background(), "not.a.token")
	fmt.Println(errors.Is(err, auth.ErrInvalidToken))
	// Output:
	// alice [user]
	// true
}

func ExampleParsePublicKeyPEM() {
	_, err := auth.ParsePublicKeyPEM([]byte("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n"))
	fmt.Println(err != nil)
	// Output: true
}
