-- Argo CD health check for meshplane.dev/DataProduct (resource.customizations.health.
-- meshplane.dev_DataProduct in argocd-cm; see docs/argocd.md). Reads what the controller
-- writes: status.observedGeneration and the kstatus conditions Ready, Reconciling, Stalled.
local hs = {}

local function find(conditions, type_)
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

-- The condition's message, or its reason when it has none.
local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

-- Reasons of a product still Reconciling that will not get better without a user: a
-- crash-looping worker, a worker image that cannot be pulled, a failing step.
local needsUser = {
  WorkerCrashLooping = true,
  WorkerImageMissing = true,
  ProvisioningFailed = true,
}

local generation = obj.metadata and obj.metadata.generation
local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to report status"
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to observe generation " .. tostring(generation)
  return hs
end
local conditions = status.conditions or {}
if #conditions == 0 then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to report conditions"
  return hs
end

local ready = find(conditions, "Ready")
local stalled = find(conditions, "Stalled")
local reconciling = find(conditions, "Reconciling")

if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = text(ready)
  return hs
end
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = text(stalled)
  -- A policy violation's findings are in Ready's message; add them.
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" and ready.message ~= stalled.message then
    hs.message = hs.message .. ": " .. ready.message
  end
  return hs
end
if isTrue(reconciling) then
  if needsUser[reconciling.reason] or (ready ~= nil and needsUser[ready.reason]) then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = text(reconciling)
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = "not Ready: " .. text(ready)
else
  hs.message = "waiting for the controller to report Ready"
end
return hs
