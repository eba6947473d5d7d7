package httpapi

import (
	"fmt"
	"net/http"
)

// listGroups: /v1/channel-registration/sub-key/{sk}/channel-group.
func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, s *scratch) error {
	if err := h.authorize(r.Context(), s, access{}); err != nil {
		return err
	}
	groups, err := h.p.Groups(s.sk)
	if err != nil {
		return err
	}
	b := append(s.buf[:0], `{"status":200,"payload":{"groups":`...)
	b = appendStrings(b, groups, "")
	b = append(b, `},"service":"channel-registry","error":false}`...)
	s.buf = b
	writeBody(w, http.StatusOK, b, s.cb)
	return nil
}

// pathGroup unescapes the group named in the path, and returns it and a
// list of it alone.
func pathGroup(s *scratch) (string, []string, error) {
	group, err := unescapePathSegment(s.rt.group, "channel-group")
	if err != nil {
		return "", nil, err
	}
	s.groups[0] = group
	return group, s.groups[:1], nil
}

// listGroup: /v1/channel-registration/sub-key/{sk}/channel-group/{g}, which
// lists the group's channels.
func (h *Handler) listGroup(w http.ResponseWriter, r *http.Request, s *scratch) error {
	group, groups, err := pathGroup(s)
	if err != nil {
		return err
	}
	if err := h.authorize(r.Context(), s, access{groups: groups}); err != nil {
		return err
	}
	chs, err := h.p.GroupChannels(s.sk, group)
	if err != nil {
		return err
	}
	b := append(s.buf[:0], `{"status":200,"payload":{"channels":`...)
	b = appendStrings(b, chs, "")
	b = append(b, `,"group":`...)
	b = appendString(b, group)
	b = append(b, `},"service":"channel-registry","error":false}`...)
	s.buf = b
	writeBody(w, http.StatusOK, b, s.cb)
	return nil
}

// changeGroup: /v1/channel-registration/sub-key/{sk}/channel-group/{g} with
// add=a,b (routeGroupAdd) or remove=a,b (routeGroupRemove), which adds
// channels to the group or removes them.
func (h *Handler) changeGroup(w http.ResponseWriter, r *http.Request, s *scratch) error {
	group, groups, err := pathGroup(s)
	if err != nil {
		return err
	}
	q := &s.q
	if q.has&pAdd != 0 && q.has&pRemove != 0 {
		return badRequest("Invalid add and remove: give one of them, not both")
	}
	adding := s.rt.kind == routeGroupAdd
	param, list := "add", q.add
	if !adding {
		param, list = "remove", q.remove
	}
	chs := splitQueryNames(list, s.chans[:0])
	if len(chs) == 0 {
		return badRequest(fmt.Sprintf("Invalid %s: no channels given", param))
	}
	if err := h.authorize(r.Context(), s, access{chans: chs, groups: groups}); err != nil {
		return err
	}
	if adding {
		err = h.p.AddChannelsToGroup(s.sk, group, chs...)
	} else {
		err = h.p.RemoveChannelsFromGroup(s.sk, group, chs...)
	}
	if err != nil {
		return err
	}
	writeFixed(w, http.StatusOK, bodyRegOK, hdrLenRegOK, s.cb)
	return nil
}

// deleteGroup: /v1/channel-registration/sub-key/{sk}/channel-group/{g}/remove.
func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request, s *scratch) error {
	group, groups, err := pathGroup(s)
	if err != nil {
		return err
	}
	if err := h.authorize(r.Context(), s, access{groups: groups}); err != nil {
		return err
	}
	if err := h.p.DeleteGroup(s.sk, group); err != nil {
		return err
	}
	writeFixed(w, http.StatusOK, bodyRegOK, hdrLenRegOK, s.cb)
	return nil
}
