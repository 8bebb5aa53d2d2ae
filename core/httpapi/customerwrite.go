package httpapi

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// createCustomer creates a customer with identities: 201 and the customer.
func (a *API) createCustomer(c *fiber.Ctx) error {
	var req core.NewCustomer
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	cust, err := a.customers.CreateCustomer(c.UserContext(), req, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, cust.ID)
	return c.Status(fiber.StatusCreated).JSON(cust)
}

// updateCustomer changes a customer's name or attributes.
func (a *API) updateCustomer(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	var req core.CustomerChange
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	cust, err := a.customers.UpdateCustomer(c.UserContext(), id, req, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, cust.ID)
	return c.JSON(cust)
}

// addIdentity gives a customer another identity {kind, address}.
func (a *API) addIdentity(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	var req core.Identity
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	cust, err := a.customers.AddIdentity(c.UserContext(), id, req, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, cust.ID)
	return c.JSON(cust)
}

// removeIdentity takes the identity of the path from a customer; the
// address is URL-encoded, in any notation (+1 415 555 0101).
func (a *API) removeIdentity(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	kind, err1 := url.PathUnescape(c.Params("kind"))
	address, err2 := url.PathUnescape(c.Params("address"))
	if err1 != nil || err2 != nil {
		return core.Errorf(core.EINVALID, "the identity's kind and address must be URL-encoded")
	}
	idn := core.Identity{Kind: strings.Clone(kind), Address: strings.Clone(address)}
	cust, err := a.customers.RemoveIdentity(c.UserContext(), id, idn, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, cust.ID)
	return c.JSON(cust)
}
