package config

import (
	"fmt"
	"reflect"
	"strings"
)

// SetBy names the sources, among those Resolve returned (base first),
// from which the resolved config has the value of field, a dotted JSON
// path such as "network.httpProxyPort", so that an error about the merged
// config can say which file to change:
//   - a list: the sources whose own list holds value (any entry if value
//     is nil);
//   - a boolean, which merging ORs: the sources that set it true;
//   - a port or an optional boolean, which a later source overrides: the
//     last source that set it (to value, if value is not nil).
//
// A file is named by its path, a template as `template "code"`. The result
// is nil when no source sets the field (its default applies), for an
// unknown field, and for sources not from Resolve.
func SetBy(sources []Source, field string, value any) []string {
	var out []string
	for _, s := range sources {
		if s.own == nil {
			continue
		}
		v, ok := fieldByJSONPath(reflect.ValueOf(s.own).Elem(), field)
		if !ok {
			return nil
		}
		name := s.Path
		if s.Kind == SourceTemplate {
			name = fmt.Sprintf("template %q", s.Path)
		}
		switch v.Kind() {
		case reflect.Slice:
			for i := range v.Len() {
				if value == nil || v.Index(i).Interface() == value {
					out = append(out, name)
					break
				}
			}
		case reflect.Bool:
			if v.Bool() {
				out = append(out, name)
			}
		case reflect.Int:
			if v.Int() != 0 && (value == nil || v.Interface() == value) {
				out = []string{name}
			} else if v.Int() != 0 {
				out = nil // overridden by a value other than value
			}
		case reflect.Pointer:
			if !v.IsNil() && (value == nil || v.Elem().Interface() == value) {
				out = []string{name}
			} else if !v.IsNil() {
				out = nil
			}
		}
	}
	return out
}

// fieldByJSONPath returns the field of the struct v at path, each element
// matched by its JSON name.
func fieldByJSONPath(v reflect.Value, path string) (reflect.Value, bool) {
	for name := range strings.SplitSeq(path, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		found := false
		for i := range v.NumField() {
			tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			if tag == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
	return v, true
}
