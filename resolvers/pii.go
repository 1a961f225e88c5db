package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"meridian/adapters/profile"
	"meridian/internal/apierr"
	"meridian/internal/audit"
	"meridian/resolvers/model"

	gqlmodel "meridian/graph/model"
)

// piiDecision is what the policy allows a viewer to see of one field.
type piiDecision int

const (
	piiForbid piiDecision = iota
	piiAllow
	piiMask
)

// decidePII is the whole personal-data policy, in one table: the person
// sees everything of their own; their assigned consultant sees who they are,
// how to contact them only with CONSULTANT_CONTACT (masked otherwise) and
// their preferences only with PERSONALIZATION; nobody else sees anything.
func decidePII(a model.Access, kind gqlmodel.PiiKind) (piiDecision, string) {
	switch a.Relation {
	case model.RelationOwner:
		return piiAllow, purposeSelfService
	case model.RelationConsultant:
		switch kind {
		case gqlmodel.PiiKindIdentity:
			return piiAllow, purposeConsultantService
		case gqlmodel.PiiKindContact:
			if a.ContactConsent {
				return piiAllow, "CONSULTANT_CONTACT"
			}
			return piiMask, purposeConsultantService
		case gqlmodel.PiiKindPreference:
			if a.PersonalizationConsent {
				return piiAllow, "PERSONALIZATION"
			}
		}
	}
	return piiForbid, ""
}

// PIIDirective enforces @pii on every field that carries it and records
// each read in the request's audit recorder.
func PIIDirective(ctx context.Context, obj any, next graphql.Resolver, kind gqlmodel.PiiKind) (any, error) {
	prof, ok := obj.(*model.Profile)
	if !ok {
		// @pii on a type the policy does not know: refuse rather than leak.
		return nil, apierr.New(apierr.Internal, "personal data policy cannot decide this field")
	}
	field := graphql.GetFieldContext(ctx).Field.Name
	decision, purpose := decidePII(prof.Access, kind)
	if decision == piiForbid {
		return nil, apierr.New(apierr.Forbidden, "%s is personal data you may not read", field)
	}
	v, err := next(ctx)
	if err != nil {
		return nil, err
	}
	if decision == piiMask {
		v = mask(field, v)
	}
	audit.RecorderFrom(ctx).Read(prof.Access.Owner, field, purpose)
	return v, nil
}

// mask hides most of a contact value, keeping enough to recognise it.
func mask(field string, v any) any {
	s, ok := v.(*string)
	if !ok || s == nil {
		return v
	}
	var m string
	switch field {
	case "mobile":
		m = profile.MaskMobile(*s)
	case "email":
		m = profile.MaskEmail(*s)
	default:
		m = "****"
	}
	return &m
}
