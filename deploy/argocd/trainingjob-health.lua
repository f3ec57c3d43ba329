-- Argo CD resource health for ferry.dev/TrainingJob (argocd-cm: resource.customizations.health.ferry.dev_TrainingJob).
-- Progressing while pending, starting or running; Healthy when Complete; Degraded when Failed or Stopped;
-- Suspended while spec.suspend holds. The message says why, from the job's conditions and status.
local hs = {}

local function condition(status, type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function says(c)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return nil
end

local status = obj.status
local phase = status ~= nil and status.phase or nil
local generation = obj.metadata ~= nil and obj.metadata.generation or nil

if status == nil or phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to record a status"
  return hs
end

if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "The operator has not yet seen generation " .. tostring(generation)
  return hs
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = says(condition(status, "Complete")) or "The job completed"
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = says(condition(status, "Failed")) or status.failureReason or "The job failed"
  return hs
end

if phase == "Stopped" then
  hs.status = "Degraded"
  hs.message = says(condition(status, "Stopped")) or "The job was stopped"
  return hs
end

if phase == "Suspended" or (obj.spec ~= nil and obj.spec.suspend == true) then
  hs.status = "Suspended"
  hs.message = says(condition(status, "Suspended")) or "The job is suspended (spec.suspend)"
  return hs
end

hs.status = "Progressing"
hs.message = says(condition(status, "Ready")) or says(condition(status, "Running")) or ("The job is " .. phase)
return hs
