package httpapi

import "github.com/gofiber/fiber/v2"

// retryMessage is POST /v1/messages/{id}/retry: a failed reply is queued
// again as a new round of sends of the same message; 202 {id, status}.
func (a *API) retryMessage(c *fiber.Ctx) error {
	id, err := pathID(c, "message")
	if err != nil {
		return err
	}
	msg, err := a.replies.RetryMessage(c.UserContext(), id, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, msg.CustomerID)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": msg.ID, "status": msg.Status})
}
