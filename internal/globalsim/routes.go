package globalsim

import (
	"net/http"
	"strings"
)

// Route is one operation the simulator serves: an HTTP method and a path
// template in the style of net/http patterns and OpenAPI ("{sku}" is a path
// parameter). Origin is the simulated system the route belongs to, or empty
// for the simulator's own /admin routes.
type Route struct {
	Origin Origin
	Method string
	Path   string
}

// String is the route as the request log counts it: "POST /orders/v1/orders".
func (r Route) String() string { return r.Method + " " + r.Path }

type routeSpec struct {
	Route
	handle func(*Sim, http.ResponseWriter, *http.Request)
}

// routeTable is the one place that says what the simulator serves; the mux,
// Routes and the contract test against api/global.openapi.yaml all read it.
func routeTable() []routeSpec {
	md, om, cm := OriginMasterdata, OriginOrders, OriginCMS
	return []routeSpec{
		{Route{md, http.MethodPost, "/masterdata/v1/inventory:batchGet"}, (*Sim).handleBatchGetInventory},
		{Route{md, http.MethodPost, "/masterdata/v1/prices:batchGet"}, (*Sim).handleBatchGetPrices},
		{Route{md, http.MethodGet, "/masterdata/v1/products"}, (*Sim).handleListProducts},
		{Route{md, http.MethodGet, "/masterdata/v1/products/{sku}"}, (*Sim).handleGetProduct},
		{Route{md, http.MethodGet, "/masterdata/v1/changes"}, (*Sim).handleMasterdataChanges},

		{Route{om, http.MethodPost, "/orders/v1/orders"}, (*Sim).handleCreateOrder},
		{Route{om, http.MethodGet, "/orders/v1/orders"}, (*Sim).handleListOrders},
		{Route{om, http.MethodGet, "/orders/v1/orders/{id}"}, (*Sim).handleGetOrder},

		{Route{cm, http.MethodGet, "/cms/v1/pages"}, (*Sim).handleListPages},
		{Route{cm, http.MethodGet, "/cms/v1/pages/{slug}"}, (*Sim).handleGetPage},
		{Route{cm, http.MethodGet, "/cms/v1/changes"}, (*Sim).handleCMSChanges},

		{Route{"", http.MethodGet, "/admin/faults"}, (*Sim).handleGetFaults},
		{Route{"", http.MethodPut, "/admin/faults"}, (*Sim).handlePutFaults},
		{Route{"", http.MethodDelete, "/admin/faults"}, (*Sim).handleResetFaults},
		{Route{"", http.MethodGet, "/admin/requests"}, (*Sim).handleGetRequests},
		{Route{"", http.MethodDelete, "/admin/requests"}, (*Sim).handleClearRequests},
		{Route{"", http.MethodPatch, "/admin/masterdata/products/{sku}"}, (*Sim).handlePatchProduct},
		{Route{"", http.MethodDelete, "/admin/masterdata/products/{sku}"}, (*Sim).handleDeleteProduct},
		{Route{"", http.MethodPatch, "/admin/cms/pages/{slug}"}, (*Sim).handlePatchPage},
	}
}

// Routes lists every route the simulator serves, origins first, then admin.
// A GET route also answers HEAD, as net/http does.
func Routes() []Route {
	specs := routeTable()
	out := make([]Route, len(specs))
	for i, s := range specs {
		out[i] = s.Route
	}
	return out
}

// originOf maps a request path to the origin whose prefix it carries; ok is
// false for /admin and for paths outside every origin.
func originOf(path string) (Origin, bool) {
	for _, o := range Origins() {
		if strings.HasPrefix(path, "/"+string(o)+"/") {
			return o, true
		}
	}
	return "", false
}
