package globalsim

import "net/http"

func (s *Sim) handlePatchProduct(w http.ResponseWriter, r *http.Request) {
	var pp productPatch
	if err := decodeJSON(r, &pp); err != nil {
		writeErr(w, err)
		return
	}
	sku := r.PathValue("sku")
	res, err := s.md.patch(sku, pp, s.now())
	if err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("master data patched", "sku", sku, "changes", len(res.Changes))
	writeJSON(w, http.StatusOK, res)
	s.hook.notify(OriginMasterdata, len(res.Changes))
}

func (s *Sim) handleDeleteProduct(w http.ResponseWriter, r *http.Request) {
	sku := r.PathValue("sku")
	res, err := s.md.remove(sku, s.now())
	if err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("master data product deleted", "sku", sku)
	writeJSON(w, http.StatusOK, res)
	s.hook.notify(OriginMasterdata, 1)
}

func (s *Sim) handlePatchPage(w http.ResponseWriter, r *http.Request) {
	var pp pagePatch
	if err := decodeJSON(r, &pp); err != nil {
		writeErr(w, err)
		return
	}
	slug := r.PathValue("slug")
	res, err := s.cms.patch(slug, pp, s.now())
	if err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("page patched", "slug", slug)
	writeJSON(w, http.StatusOK, res)
	s.hook.notify(OriginCMS, 1)
}
