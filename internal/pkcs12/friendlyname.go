// Copyright 2026 the cmca authors.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package pkcs12

// cmca patch: the friendlyName attribute of WithFriendlyName. Not in
// upstream go-pkcs12.

import (
	"encoding/asn1"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// makeFriendlyNameAttribute returns the PKCS#9 friendlyName attribute
// (SET OF BMPString with one value) for name, laid out like the one
// EncodeTrustStoreEntries writes.
func makeFriendlyNameAttribute(name string) (pkcs12Attribute, error) {
	if !utf8.ValidString(name) {
		return pkcs12Attribute{}, errors.New("pkcs12: friendly name is not valid UTF-8")
	}
	if strings.ContainsRune(name, 0) {
		// Decoders take a trailing U+0000 for the BMPString terminator.
		return pkcs12Attribute{}, errors.New("pkcs12: friendly name contains U+0000")
	}
	units := utf16.Encode([]rune(name))
	bmp := make([]byte, 0, 2*len(units))
	for _, u := range units {
		bmp = append(bmp, byte(u>>8), byte(u))
	}
	encoded, err := asn1.Marshal(asn1.RawValue{Class: 0, Tag: 30, IsCompound: false, Bytes: bmp})
	if err != nil {
		return pkcs12Attribute{}, err
	}
	return pkcs12Attribute{
		Id: oidFriendlyName,
		Value: asn1.RawValue{
			Class:      0,
			Tag:        17,
			IsCompound: true,
			Bytes:      encoded,
		},
	}, nil
}
