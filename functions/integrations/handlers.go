package integrations

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/webhooks"
)

// EventTypeList is the response of GET /integrations/events.
type EventTypeList struct {
	Data       []events.Type `json:"data"`
	APIVersion string        `json:"api_version" example:"2026-12-01" doc:"The api_version every event payload currently carries."`
}

func tenantID(r *http.Request) string { return request.PrincipalFrom(r.Context()).TenantID }

func (m *Module) listEventTypes(w http.ResponseWriter, _ *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, EventTypeList{Data: events.Catalogue(), APIVersion: events.APIVersion})
	return nil
}

func (m *Module) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	var body webhooks.WebhookCreateRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	e, err := m.Webhooks.Create(r.Context(), tx, tenantID(r), body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/integrations/webhooks/"+e.ID)
	httpx.WriteJSON(w, http.StatusCreated, e)
	return nil
}

func (m *Module) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	out, err := m.Webhooks.List(r.Context(), tx, tenantID(r), page)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (m *Module) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	e, err := m.Webhooks.Get(r.Context(), tx, tenantID(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, e)
	return nil
}

func (m *Module) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	var body webhooks.WebhookUpdateRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	e, err := m.Webhooks.Update(r.Context(), tx, tenantID(r), mux.Vars(r)["id"], body)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, e)
	return nil
}

func (m *Module) setEnabled(enabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		tx, err := request.Tx(r.Context())
		if err != nil {
			return err
		}
		e, err := m.Webhooks.SetEnabled(r.Context(), tx, tenantID(r), mux.Vars(r)["id"], enabled)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, e)
		return nil
	}
}

func (m *Module) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	if err := m.Webhooks.Delete(r.Context(), tx, tenantID(r), mux.Vars(r)["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (m *Module) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	out, err := m.Webhooks.RotateSecret(r.Context(), tx, tenantID(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (m *Module) sendTest(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	out, err := m.Webhooks.SendTest(r.Context(), tx, tenantID(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, out)
	return nil
}

func (m *Module) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	out, err := m.Webhooks.ListDeliveries(r.Context(), tx, tenantID(r), mux.Vars(r)["id"], r.URL.Query().Get("status"), page)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (m *Module) getDelivery(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	vars := mux.Vars(r)
	d, err := m.Webhooks.GetDelivery(r.Context(), tx, tenantID(r), vars["id"], vars["delivery_id"])
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (m *Module) redeliver(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	vars := mux.Vars(r)
	d, err := m.Webhooks.Redeliver(r.Context(), tx, tenantID(r), vars["id"], vars["delivery_id"])
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, d)
	return nil
}
