% # A long task's progress: include with  % include("job.tpl", job_id="scan-job")  ; panel.js's bacrouter.runJob fills it
<div class="job" id="{{job_id}}" hidden>
  <progress max="1"></progress>
  <span class="job-text" data-role="job-text"></span>
  <button type="button" class="cbi-button cbi-button-reset job-cancel" id="{{job_id}}-cancel" hidden>Cancel</button>
</div>
