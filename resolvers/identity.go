package resolvers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"meridian/adapters/consent"
	"meridian/adapters/profile"
	"meridian/internal/apierr"
	"meridian/internal/audit"
	"meridian/internal/auth"
	"meridian/internal/fielderr"
	"meridian/internal/middleware"
	"meridian/resolvers/model"

	gqlmodel "meridian/graph/model"
)

// PersonalData is the in-country personal-data side the identity fields
// read and write.
type PersonalData struct {
	Profiles profile.Store
	Consents consent.Store
	Audit    audit.Store
	// PolicyVersion is the privacy policy version consents are given under.
	PolicyVersion string
}

// Purposes recorded in the audit trail for accesses that need no consent.
const (
	purposeSelfService       = "DATA_SUBJECT_REQUEST"
	purposeConsultantService = "CONSULTANT_SERVICE"
)

// signedIn returns the request's principal or an UNAUTHENTICATED error.
func signedIn(ctx context.Context) (*auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok || p == nil || p.Subject == "" {
		return nil, apierr.New(apierr.Unauthenticated, "sign in to use this field")
	}
	return p, nil
}

func actorRole(p *auth.Principal) string {
	if p.HasRole("consultant") {
		return "consultant"
	}
	return "customer"
}

// personalInputError turns a store's validation error into BAD_USER_INPUT
// naming every field, never the value.
func personalInputError(err error) error {
	var reasons []string
	for _, fe := range fielderr.All(err) {
		reasons = append(reasons, fe.Field+": "+fe.Reason)
	}
	if len(reasons) == 0 {
		return err
	}
	return apierr.Wrap(apierr.BadUserInput, err, "%s", strings.Join(reasons, "; "))
}

// profileModel maps a stored profile for a viewer with the given access.
func profileModel(p profile.Profile, access model.Access) *model.Profile {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	m := &model.Profile{
		ID:              p.Subject,
		DisplayName:     str(p.DisplayName),
		Mobile:          str(p.Mobile),
		Email:           str(p.Email),
		PreferredLocale: str(p.Locale),
		ConsultantID:    str(p.ConsultantID),
		UpdatedAt:       p.UpdatedAt.UTC(),
		Access:          access,
		Addresses:       make([]*model.Address, len(p.Addresses)),
	}
	if !p.Birthday.IsZero() {
		m.Birthday = str(p.Birthday.String())
	}
	for i, a := range p.Addresses {
		m.Addresses[i] = &model.Address{
			ID: a.ID, RecipientName: a.RecipientName, RecipientMobile: a.RecipientMobile,
			Province: a.Province, City: a.City, District: a.District, Line1: a.Line1,
			Line2: str(a.Line2), PostalCode: str(a.PostalCode), IsDefault: a.IsDefault,
		}
	}
	if !p.Skin.IsZero() {
		m.Skin = &model.SkinProfile{Type: str(string(p.Skin.Type)), Concerns: make([]string, len(p.Skin.Concerns))}
		for i, c := range p.Skin.Concerns {
			m.Skin.Concerns[i] = string(c)
		}
	}
	return m
}

func consentModels(current map[consent.Purpose]consent.State) []*gqlmodel.Consent {
	out := make([]*gqlmodel.Consent, 0, len(consent.Purposes()))
	for _, p := range consent.Purposes() {
		st := current[p]
		c := &gqlmodel.Consent{Purpose: gqlmodel.ConsentPurpose(p), Granted: st.Granted}
		if st.Version > 0 {
			at := st.At.UTC()
			c.UpdatedAt = &at
			if st.PolicyVersion != "" {
				v := st.PolicyVersion
				c.PolicyVersion = &v
			}
		}
		out = append(out, c)
	}
	return out
}

func (r *Resolver) me(ctx context.Context) (*gqlmodel.Customer, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	return &gqlmodel.Customer{ID: p.Subject}, nil
}

func (r *Resolver) ownProfile(ctx context.Context, subject string) (*model.Profile, error) {
	p, found, err := r.personal.Profiles.Get(ctx, subject)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	return profileModel(p, model.Access{Relation: model.RelationOwner, Owner: subject}), nil
}

func (r *Resolver) ownConsents(ctx context.Context, subject string) ([]*gqlmodel.Consent, error) {
	current, err := r.personal.Consents.Current(ctx, subject)
	if err != nil {
		return nil, err
	}
	return consentModels(current), nil
}

const accessLogCursorPrefix = "a1:"

func (r *Resolver) accessLog(ctx context.Context, subject string, first *int, after *string) (*gqlmodel.AccessLogConnection, error) {
	n := 20
	if first != nil {
		n = *first
	}
	if n < 1 || n > r.maxPageSize {
		return nil, apierr.New(apierr.BadUserInput, "first: must be between 1 and %d, got %d", r.maxPageSize, n)
	}
	var afterID int64
	if after != nil && *after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*after)
		id, perr := strconv.ParseInt(strings.TrimPrefix(string(raw), accessLogCursorPrefix), 10, 64)
		if err != nil || perr != nil || !strings.HasPrefix(string(raw), accessLogCursorPrefix) || id < 1 {
			return nil, apierr.New(apierr.BadUserInput, "after: not a cursor returned by this API")
		}
		afterID = id
	}
	page, err := r.personal.Audit.List(ctx, subject, n, afterID)
	if err != nil {
		return nil, err
	}
	conn := &gqlmodel.AccessLogConnection{
		Entries:  make([]*gqlmodel.AccessLogEntry, len(page.Entries)),
		PageInfo: &gqlmodel.PageInfo{HasNextPage: page.HasNextPage},
	}
	for i, e := range page.Entries {
		entry := &gqlmodel.AccessLogEntry{
			At: e.At.UTC(), Actor: e.ActorSubject, ActorRole: e.ActorRole, Action: string(e.Action), Fields: e.Fields,
		}
		if entry.Fields == nil {
			entry.Fields = []string{}
		}
		if e.Purpose != "" {
			entry.Purpose = &e.Purpose
		}
		if e.RequestID != "" {
			entry.RequestID = &e.RequestID
		}
		conn.Entries[i] = entry
	}
	if n := len(page.Entries); n > 0 {
		c := base64.RawURLEncoding.EncodeToString([]byte(accessLogCursorPrefix + strconv.FormatInt(page.Entries[n-1].ID, 10)))
		conn.PageInfo.EndCursor = &c
	}
	return conn, nil
}

// record appends audit entries for a change by the signed-in person. A
// change whose audit entry cannot be written is reported as failed: the
// trail must not miss what happened.
func (r *Resolver) record(ctx context.Context, p *auth.Principal, action audit.Action, fields []string, purpose string) error {
	err := r.personal.Audit.Append(ctx, []audit.Entry{{
		ActorSubject: p.Subject, ActorRole: actorRole(p), DataSubject: p.Subject,
		Action: action, Fields: fields, Purpose: purpose, RequestID: middleware.RequestIDFrom(ctx),
	}})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

func (r *Resolver) updateProfile(ctx context.Context, in gqlmodel.UpdateProfileInput) (*model.Profile, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	patch, fields, err := profilePatch(in)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, apierr.New(apierr.BadUserInput, "input: give at least one field to change")
	}
	updated, err := r.personal.Profiles.Upsert(ctx, p.Subject, patch)
	if err != nil {
		return nil, personalInputError(err)
	}
	if err := r.record(ctx, p, audit.ActionUpdate, fields, purposeSelfService); err != nil {
		return nil, err
	}
	return profileModel(updated, model.Access{Relation: model.RelationOwner, Owner: p.Subject}), nil
}

// profilePatch maps the GraphQL input to a store patch and the names of
// the fields it touches.
func profilePatch(in gqlmodel.UpdateProfileInput) (profile.Patch, []string, error) {
	var patch profile.Patch
	var fields []string
	set := func(name string, v *string, dst **string) {
		if v != nil {
			*dst = v
			fields = append(fields, name)
		}
	}
	set("displayName", in.DisplayName, &patch.DisplayName)
	set("mobile", in.Mobile, &patch.Mobile)
	set("email", in.Email, &patch.Email)
	set("preferredLocale", in.PreferredLocale, &patch.Locale)
	if in.Birthday != nil {
		var d profile.Date
		if *in.Birthday != "" {
			parsed, err := profile.ParseDate(*in.Birthday)
			if err != nil {
				return patch, nil, apierr.New(apierr.BadUserInput, "birthday: want YYYY-MM-DD")
			}
			d = parsed
		}
		patch.Birthday = &d
		fields = append(fields, "birthday")
	}
	if in.SkinType != nil || in.SkinConcerns != nil {
		skin := profile.SkinProfile{}
		if in.SkinType != nil {
			skin.Type = profile.SkinType(*in.SkinType)
		}
		for _, c := range in.SkinConcerns {
			skin.Concerns = append(skin.Concerns, profile.SkinConcern(c))
		}
		patch.Skin = &skin
		fields = append(fields, "skin")
	}
	if in.Addresses != nil {
		addrs := make([]profile.Address, len(in.Addresses))
		for i, a := range in.Addresses {
			addrs[i] = profile.Address{
				RecipientName: a.RecipientName, RecipientMobile: a.RecipientMobile, Province: a.Province,
				City: a.City, District: a.District, Line1: a.Line1,
			}
			if a.ID != nil {
				addrs[i].ID = *a.ID
			}
			if a.Line2 != nil {
				addrs[i].Line2 = *a.Line2
			}
			if a.PostalCode != nil {
				addrs[i].PostalCode = *a.PostalCode
			}
			if a.IsDefault != nil {
				addrs[i].IsDefault = *a.IsDefault
			}
		}
		patch.Addresses = &addrs
		fields = append(fields, "addresses")
	}
	return patch, fields, nil
}

func (r *Resolver) setConsent(ctx context.Context, purpose gqlmodel.ConsentPurpose, granted bool) (*gqlmodel.Consent, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	st, err := r.personal.Consents.Set(ctx, consent.Change{
		Subject: p.Subject, Purpose: consent.Purpose(purpose), Granted: granted,
		PolicyVersion: r.personal.PolicyVersion, ChangedBy: p.Subject, RequestID: middleware.RequestIDFrom(ctx),
	})
	if err != nil {
		return nil, personalInputError(err)
	}
	if err := r.record(ctx, p, audit.ActionConsent, []string{"consent." + string(purpose)}, string(purpose)); err != nil {
		return nil, err
	}
	return consentModels(map[consent.Purpose]consent.State{st.Purpose: st})[indexOfPurpose(st.Purpose)], nil
}

func indexOfPurpose(p consent.Purpose) int {
	for i, q := range consent.Purposes() {
		if q == p {
			return i
		}
	}
	return 0
}

// exportDocument is everything held about one person.
type exportDocument struct {
	Subject        string           `json:"subject"`
	GeneratedAt    time.Time        `json:"generatedAt"`
	Profile        *profile.Profile `json:"profile"`
	Consents       []consent.State  `json:"consents"`
	ConsentHistory []consent.Change `json:"consentHistory"`
	AccessLog      []audit.Entry    `json:"accessLog"`
}

// maxExportedAuditEntries bounds an export's access log; older entries are
// summarized by a flag rather than making the document unbounded.
const maxExportedAuditEntries = 10_000

func (r *Resolver) exportMyData(ctx context.Context) (*gqlmodel.DataExport, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	doc := exportDocument{Subject: p.Subject, GeneratedAt: time.Now().UTC()}
	if prof, found, err := r.personal.Profiles.Get(ctx, p.Subject); err != nil {
		return nil, err
	} else if found {
		doc.Profile = &prof
	}
	current, err := r.personal.Consents.Current(ctx, p.Subject)
	if err != nil {
		return nil, err
	}
	for _, purpose := range consent.Purposes() {
		doc.Consents = append(doc.Consents, current[purpose])
	}
	if doc.ConsentHistory, err = r.personal.Consents.History(ctx, p.Subject); err != nil {
		return nil, err
	}
	var after int64
	for len(doc.AccessLog) < maxExportedAuditEntries {
		page, err := r.personal.Audit.List(ctx, p.Subject, 500, after)
		if err != nil {
			return nil, err
		}
		doc.AccessLog = append(doc.AccessLog, page.Entries...)
		if !page.HasNextPage || len(page.Entries) == 0 {
			break
		}
		after = page.Entries[len(page.Entries)-1].ID
	}
	if err := r.record(ctx, p, audit.ActionExport, nil, purposeSelfService); err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &gqlmodel.DataExport{GeneratedAt: doc.GeneratedAt, JSON: string(b)}, nil
}

func (r *Resolver) deleteMyData(ctx context.Context, confirm bool) (*gqlmodel.DeletionReceipt, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !confirm {
		return nil, apierr.New(apierr.BadUserInput, "confirm: must be true to erase your data")
	}
	requestID := middleware.RequestIDFrom(ctx)
	withdrawn, err := r.personal.Consents.WithdrawAll(ctx, p.Subject, p.Subject, requestID)
	if err != nil {
		return nil, fmt.Errorf("withdraw consents: %w", err)
	}
	if _, err := r.personal.Profiles.Erase(ctx, p.Subject); err != nil && !errors.Is(err, profile.ErrNotFound) {
		return nil, fmt.Errorf("erase profile: %w", err)
	}
	if err := r.record(ctx, p, audit.ActionDelete, nil, purposeSelfService); err != nil {
		return nil, err
	}
	if _, err := r.personal.Audit.Pseudonymize(ctx, p.Subject); err != nil {
		return nil, fmt.Errorf("pseudonymize audit trail: %w", err)
	}
	return &gqlmodel.DeletionReceipt{ErasedAt: time.Now().UTC(), ConsentsWithdrawn: len(withdrawn)}, nil
}

func (r *Resolver) consultant(ctx context.Context) (*gqlmodel.ConsultantDashboard, error) {
	p, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if !p.HasRole("consultant") || p.ConsultantID == "" {
		return nil, apierr.New(apierr.Forbidden, "the consultant workspace needs the consultant role")
	}
	return &gqlmodel.ConsultantDashboard{ConsultantID: p.ConsultantID}, nil
}

const customerCursorPrefix = "c1:"

func (r *Resolver) assignedCustomers(ctx context.Context, consultantID string, first *int, after *string) (*gqlmodel.AssignedCustomerConnection, error) {
	n := 20
	if first != nil {
		n = *first
	}
	if n < 1 || n > r.maxPageSize {
		return nil, apierr.New(apierr.BadUserInput, "first: must be between 1 and %d, got %d", r.maxPageSize, n)
	}
	var afterSubject string
	if after != nil && *after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*after)
		if err != nil || !strings.HasPrefix(string(raw), customerCursorPrefix) || len(raw) == len(customerCursorPrefix) {
			return nil, apierr.New(apierr.BadUserInput, "after: not a cursor returned by this API")
		}
		afterSubject = string(raw[len(customerCursorPrefix):])
	}
	page, err := r.personal.Profiles.ListByConsultant(ctx, consultantID, n, afterSubject)
	if err != nil {
		return nil, err
	}
	subjects := make([]string, len(page.Profiles))
	for i, p := range page.Profiles {
		subjects[i] = p.Subject
	}
	contact, err := r.personal.Consents.GrantedFor(ctx, subjects, consent.ConsultantContact)
	if err != nil {
		return nil, err
	}
	personalization, err := r.personal.Consents.GrantedFor(ctx, subjects, consent.Personalization)
	if err != nil {
		return nil, err
	}
	conn := &gqlmodel.AssignedCustomerConnection{
		Edges:      make([]*gqlmodel.AssignedCustomerEdge, len(page.Profiles)),
		PageInfo:   &gqlmodel.PageInfo{HasNextPage: page.HasNextPage},
		TotalCount: page.TotalCount,
	}
	for i, p := range page.Profiles {
		access := model.Access{
			Relation: model.RelationConsultant, Owner: p.Subject,
			ContactConsent: contact[p.Subject], PersonalizationConsent: personalization[p.Subject],
		}
		cursor := base64.RawURLEncoding.EncodeToString([]byte(customerCursorPrefix + p.Subject))
		conn.Edges[i] = &gqlmodel.AssignedCustomerEdge{Cursor: cursor, Node: &gqlmodel.AssignedCustomer{
			ID: p.Subject, Profile: profileModel(p, access), ContactAllowed: contact[p.Subject],
		}}
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	if err := r.customerTotals(ctx, consultantID, conn); err != nil {
		return nil, err
	}
	return conn, nil
}
