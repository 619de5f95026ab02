-- Argo CD health check for meshplane.dev/GovernancePolicy (resource.customizations.health.
-- meshplane.dev_GovernancePolicy in argocd-cm; see docs/argocd.md). The controller writes
-- status.observedGeneration and a Ready condition (reason InForce), or Ready=False and
-- Stalled=True (reason PolicyNotInForce) for a policy that is not in force. Without a
-- running controller there is no status: a policy the webhook admitted is valid.
local hs = {}

local function find(conditions, type_)
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

local generation = obj.metadata and obj.metadata.generation
local status = obj.status or {}
local conditions = status.conditions or {}
if status.observedGeneration ~= nil and generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to observe generation " .. tostring(generation)
  return hs
end
if #conditions == 0 then
  hs.status = "Healthy"
  hs.message = "no status reported; a policy not in force has a PolicyNotInForce Warning Event"
  return hs
end

local ready = find(conditions, "Ready")
local stalled = find(conditions, "Stalled")
local reconciling = find(conditions, "Reconciling")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled)
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling)
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready)
elseif ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = text(ready)
else
  hs.status = "Progressing"
  hs.message = "waiting for the controller to report Ready"
end
return hs
