package httpapi

import (
	"fmt"
	"net/http"
)

// listGroups: /v1/channel-registration/sub-key/{sk}/channel-group.
func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, s *scratch) error {
	if err := h.authorize(r.Context(), s, OpManage, "", false, nil, nil, false); err != nil {
		return err
	}
	groups, err := h.eng.Groups(s.sk)
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

// group: /v1/channel-registration/sub-key/{sk}/channel-group/{g}, which adds
// channels (add=), removes them (remove=) or lists them (neither).
func (h *Handler) group(w http.ResponseWriter, r *http.Request, s *scratch) error {
	group, err := unescapePathSegment(s.rt.group, "channel-group")
	if err != nil {
		return err
	}
	s.groups[0] = group
	groups := s.groups[:1]
	q := &s.q
	adding, removing := q.has&pAdd != 0, q.has&pRemove != 0
	if adding && removing {
		return badRequest("Invalid add and remove: give one of them, not both")
	}
	if !adding && !removing {
		if err := h.authorize(r.Context(), s, OpRead, "", false, nil, groups, false); err != nil {
			return err
		}
		chs, err := h.eng.GroupChannels(s.sk, group)
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

	param, list := "add", q.add
	if removing {
		param, list = "remove", q.remove
	}
	chs := splitQueryNames(list, s.chans[:0])
	if len(chs) == 0 {
		return badRequest(fmt.Sprintf("Invalid %s: no channels given", param))
	}
	if err := h.authorize(r.Context(), s, OpManage, "", false, chs, groups, false); err != nil {
		return err
	}
	if adding {
		err = h.eng.AddChannelsToGroup(s.sk, group, chs...)
	} else {
		err = h.eng.RemoveChannelsFromGroup(s.sk, group, chs...)
	}
	if err != nil {
		return err
	}
	writeFixed(w, http.StatusOK, bodyRegOK, hdrLenRegOK, s.cb)
	return nil
}

// deleteGroup: /v1/channel-registration/sub-key/{sk}/channel-group/{g}/remove.
func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request, s *scratch) error {
	group, err := unescapePathSegment(s.rt.group, "channel-group")
	if err != nil {
		return err
	}
	s.groups[0] = group
	if err := h.authorize(r.Context(), s, OpManage, "", false, nil, s.groups[:1], false); err != nil {
		return err
	}
	if err := h.eng.DeleteGroup(s.sk, group); err != nil {
		return err
	}
	writeFixed(w, http.StatusOK, bodyRegOK, hdrLenRegOK, s.cb)
	return nil
}
