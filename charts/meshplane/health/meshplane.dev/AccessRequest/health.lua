-- Argo CD health check for meshplane.dev/AccessRequest (resource.customizations.health.
-- meshplane.dev_AccessRequest in argocd-cm; see docs/argocd.md). The controller writes
-- status.phase (Pending, Granted, Denied, Expired) and status.message: a granted request
-- is Healthy, one waiting for an approver Progressing, a denied or expired one Degraded
-- (nothing is granted, and only a new request changes that).
local hs = {}
local status = obj.status or {}
local phase = status.phase
local message = status.message or ""
if phase == "Granted" then
  hs.status = "Healthy"
elseif phase == "Denied" or phase == "Expired" then
  hs.status = "Degraded"
elseif phase == "Pending" then
  hs.status = "Progressing"
else
  hs.status = "Progressing"
  message = "waiting for the controller to decide the request"
end
hs.message = message
return hs
