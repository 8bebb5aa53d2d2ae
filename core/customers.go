package core

import (
	"context"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opengateway/gateway/normalize"
)

// Limits of a customer created or changed by an operator or a bot.
const (
	// MaxCustomerName is the longest name, in bytes.
	MaxCustomerName = 256
	// MaxIdentities is how many identities one request may give.
	MaxIdentities = 20
	// MaxAddress is the longest identity address, in bytes (the longest email).
	MaxAddress = 320
	// MaxAttributes is how many attributes a customer may have.
	MaxAttributes = 50
	// MaxAttributeKey and MaxAttributeValue are their longest key and value, in bytes.
	MaxAttributeKey   = 64
	MaxAttributeValue = 1024
)

// identityKinds are the kinds an operator may give: the kinds of the
// channels' contacts (KindEmailUnverified is the gateway's own).
var identityKinds = []string{normalize.KindPhone, normalize.KindEmail, normalize.KindMessenger,
	normalize.KindInstagram, normalize.KindChat, normalize.KindWhatsApp}

// NewCustomer is a customer an operator or a bot creates (POST
// /v1/customers, the customer.create command).
type NewCustomer struct {
	Name       string            `json:"name,omitempty"`
	Identities []Identity        `json:"identities"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Validate checks a new customer and makes its identities canonical (and
// drops repeated ones).
func (n *NewCustomer) Validate() error {
	if err := checkCustomerName(n.Name); err != nil {
		return err
	}
	switch {
	case len(n.Identities) == 0:
		return Errorf(EINVALID, "identities is required: at least one {kind, address}")
	case len(n.Identities) > MaxIdentities:
		return Errorf(EINVALID, "at most %d identities", MaxIdentities)
	}
	ids := make([]Identity, 0, len(n.Identities))
	for _, id := range n.Identities {
		c, err := CanonicalIdentity(id.Kind, id.Address)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, c) {
			ids = append(ids, c)
		}
	}
	n.Identities = ids
	return checkAttributes(n.Attributes)
}

// CustomerChange changes a customer's name or attributes (PATCH
// /v1/customers/{id}, the customer.update command): a nil field is left as
// it is; Attributes replaces every attribute ({} clears them).
type CustomerChange struct {
	Name       *string           `json:"name,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Validate checks a change.
func (ch CustomerChange) Validate() error {
	if ch.Name == nil && ch.Attributes == nil {
		return Errorf(EINVALID, "name or attributes is required")
	}
	if ch.Name != nil {
		if err := checkCustomerName(*ch.Name); err != nil {
			return err
		}
	}
	return checkAttributes(ch.Attributes)
}

// CanonicalIdentity checks an identity and returns it canonical: a phone in
// E.164, an email lower-cased without a display name, any other kind's
// address as given.
func CanonicalIdentity(kind, address string) (Identity, error) {
	address = strings.TrimSpace(address)
	if address == "" {
		return Identity{}, Errorf(EINVALID, "every identity needs an address")
	}
	if len(address) > MaxAddress || !printable(address) {
		return Identity{}, Errorf(EINVALID, "an address is printable text of at most %d bytes", MaxAddress)
	}
	switch kind {
	case normalize.KindPhone:
		p, err := normalize.CanonicalPhone(address)
		if err != nil {
			return Identity{}, Errorf(EINVALID, "%q is not a phone number: E.164 (+ and 8 to 15 digits) or a national notation of one", address)
		}
		return Identity{Kind: kind, Address: p}, nil
	case normalize.KindEmail:
		e, _, err := normalize.CanonicalEmail(address)
		if err != nil {
			return Identity{}, Errorf(EINVALID, "%q is not an email address", address)
		}
		return Identity{Kind: kind, Address: e}, nil
	case "":
		return Identity{}, Errorf(EINVALID, "every identity needs a kind (%s)", strings.Join(identityKinds, ", "))
	}
	if !slices.Contains(identityKinds, kind) {
		return Identity{}, Errorf(EINVALID, "kind must be one of %s", strings.Join(identityKinds, ", "))
	}
	if strings.ContainsFunc(address, unicode.IsSpace) {
		return Identity{}, Errorf(EINVALID, "a %s id has no spaces", kind)
	}
	return Identity{Kind: kind, Address: address}, nil
}

func checkCustomerName(name string) error {
	if len(name) > MaxCustomerName || !printable(name) {
		return Errorf(EINVALID, "name must be printable text of at most %d bytes", MaxCustomerName)
	}
	return nil
}

// checkAttributes checks a flat object of string values: at most
// MaxAttributes keys of printable text, values without NUL characters.
func checkAttributes(attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return Errorf(EINVALID, "at most %d attributes", MaxAttributes)
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if k == "" || len(k) > MaxAttributeKey || !printable(k) {
			return Errorf(EINVALID, "an attribute name is printable text of 1 to %d bytes", MaxAttributeKey)
		}
		if v := attrs[k]; len(v) > MaxAttributeValue || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return Errorf(EINVALID, "attribute %q: a value is text of at most %d bytes", k, MaxAttributeValue)
		}
	}
	return nil
}

// printable is UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// CreateCustomer creates a customer with its identities and emits
// customer.created. An identity another customer has is refused (409
// identity_taken) and nothing is created.
func (c *Customers) CreateCustomer(ctx context.Context, n NewCustomer, by Actor) (Customer, error) {
	s := c.s
	if err := n.Validate(); err != nil {
		return Customer{}, err
	}
	var out Customer
	err := s.store.InTx(ctx, func(tx Tx) error {
		c := Customer{ID: normalize.NewID(), Name: n.Name, Attributes: n.Attributes, CreatedAt: tx.Now()}
		if err := tx.CustomerWrites.InsertCustomer(ctx, c); err != nil {
			return err
		}
		for _, id := range n.Identities {
			if err := addIdentity(ctx, tx, c.ID, id); err != nil {
				return err
			}
		}
		var err error
		if out, _, err = tx.Customers.CustomerByID(ctx, c.ID); err != nil {
			return err
		}
		return s.emit(ctx, tx, normalize.TypeCustomerCreated, EventData{CustomerID: c.ID, Actor: string(by), Customer: &out})
	})
	if err == nil {
		s.notify()
	}
	return out, err
}

// addIdentity gives a customer an identity no customer has.
func addIdentity(ctx context.Context, tx Tx, customerID string, id Identity) error {
	added, err := tx.CustomerWrites.AddIdentity(ctx, customerID, id, tx.Now())
	if err != nil || added {
		return err
	}
	return Errorf(EIDENTITYTAKEN, "%s %s belongs to another customer: merge the customers instead", id.Kind, id.Address)
}

// UpdateCustomer changes a customer's name or attributes and emits
// customer.updated naming what changed; a change that changes nothing
// emits nothing.
func (c *Customers) UpdateCustomer(ctx context.Context, id string, ch CustomerChange, by Actor) (Customer, error) {
	s := c.s
	if err := ch.Validate(); err != nil {
		return Customer{}, err
	}
	return s.withCustomer(ctx, id, func(tx Tx, c *Customer) error {
		var changed []string
		if ch.Name != nil && *ch.Name != c.Name {
			c.Name, changed = *ch.Name, append(changed, "name")
		}
		if ch.Attributes != nil && !maps.Equal(ch.Attributes, c.Attributes) {
			c.Attributes, changed = ch.Attributes, append(changed, "attributes")
			if len(c.Attributes) == 0 {
				c.Attributes = nil
			}
		}
		if len(changed) == 0 {
			return nil
		}
		if err := tx.CustomerWrites.UpdateCustomer(ctx, *c); err != nil {
			return err
		}
		return s.emit(ctx, tx, normalize.TypeCustomerUpdated, EventData{CustomerID: c.ID, Actor: string(by), Customer: c, Changed: changed})
	})
}

// AddIdentity gives a customer one more identity and emits
// customer.identity_added; an identity the customer has already changes
// nothing, one of another customer is refused (409 identity_taken).
func (c *Customers) AddIdentity(ctx context.Context, customerID string, id Identity, by Actor) (Customer, error) {
	s := c.s
	id, err := CanonicalIdentity(id.Kind, id.Address)
	if err != nil {
		return Customer{}, err
	}
	return s.withCustomer(ctx, customerID, func(tx Tx, c *Customer) error {
		if slices.Contains(c.Identities, id) {
			return nil
		}
		if err := addIdentity(ctx, tx, c.ID, id); err != nil {
			return err
		}
		c.Identities = append(c.Identities, id)
		return s.emit(ctx, tx, normalize.TypeCustomerIdentityAdded, EventData{CustomerID: c.ID, Actor: string(by), Customer: c, Identity: &id})
	})
}

// RemoveIdentity takes an identity from a customer and emits
// customer.identity_removed. A customer keeps at least one identity (422);
// an identity the customer does not have is not found. The customer's
// messages stay; the next message from the address starts a new customer.
func (c *Customers) RemoveIdentity(ctx context.Context, customerID string, id Identity, by Actor) (Customer, error) {
	s := c.s
	id, err := CanonicalIdentity(id.Kind, id.Address)
	if err != nil {
		return Customer{}, err
	}
	return s.withCustomer(ctx, customerID, func(tx Tx, c *Customer) error {
		i := slices.Index(c.Identities, id)
		switch {
		case i < 0:
			return Errorf(ENOTFOUND, "the customer has no %s identity %s", id.Kind, id.Address)
		case len(c.Identities) == 1:
			return Errorf(EUNPROCESSABLE, "a customer keeps at least one identity: add another first, or erase the customer")
		}
		if err := tx.CustomerWrites.RemoveIdentity(ctx, c.ID, id); err != nil {
			return err
		}
		c.Identities = slices.Delete(c.Identities, i, i+1)
		return s.emit(ctx, tx, normalize.TypeCustomerIdentityRemoved, EventData{CustomerID: c.ID, Actor: string(by), Customer: c, Identity: &id})
	})
}

// withCustomer runs fn on a customer read under its lock.
func (s *Service) withCustomer(ctx context.Context, id string, fn func(tx Tx, c *Customer) error) (Customer, error) {
	return changeLocked(ctx, s, func(tx Tx) (Customer, error) { return lockedCustomer(ctx, tx, id) }, fn)
}

// lockedCustomer locks a customer and reads it under the lock.
func lockedCustomer(ctx context.Context, tx Tx, id string) (Customer, error) {
	if err := customerExists(ctx, tx.Customers, id); err != nil {
		return Customer{}, err
	}
	if err := tx.Customers.LockCustomer(ctx, id); err != nil {
		return Customer{}, err
	}
	c, ok, err := tx.Customers.CustomerByID(ctx, id) // read again under the lock
	if err == nil && !ok {
		err = Errorf(ENOTFOUND, "customer %s not found", id)
	}
	return c, err
}
