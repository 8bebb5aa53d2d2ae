package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/core"
)

func (a *API) findCustomer(c *fiber.Ctx) error {
	addr, err := query(c, "address")
	if err != nil {
		return err
	}
	if strings.TrimSpace(addr) == "" {
		return core.Errorf(core.EINVALID, "address is required")
	}
	cust, err := a.customers.FindCustomer(c.UserContext(), addr)
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

func (a *API) getCustomer(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	cust, err := a.customers.Customer(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

func (a *API) merge(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	var req struct {
		From string `json:"from"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.From == "" {
		return core.Errorf(core.EINVALID, "from is required")
	}
	if !validID(req.From) {
		return core.Errorf(core.ENOTFOUND, "customer %q not found", req.From)
	}
	cust, err := a.customers.Merge(c.UserContext(), id, req.From, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, cust.ID)
	return c.JSON(cust)
}

func (a *API) eraseCustomer(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	if err := a.customers.EraseCustomer(c.UserContext(), id, ActorOf(c)); err != nil {
		return err
	}
	if a.idem != nil {
		// Kept responses may hold the customer's data; they would expire
		// within a day, but erasure means now.
		if err := a.idem.ForgetIdempotentResponses(c.UserContext(), id); err != nil {
			a.log.Error("api: erase kept responses of a customer", "customer_id", id, "request_id", edge.ID(c), "error", err)
		}
	}
	c.Status(fiber.StatusNoContent)
	return nil
}
