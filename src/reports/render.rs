//! The report's pages: a summary in words with the key figures and two charts (events per day or
//! hour, stacked by camera; activity as a heat map), then alerts by severity, what was seen and
//! each camera's uptime, then the top events with their snapshots and descriptions. A period with
//! no events is one friendly page.

use super::data::{ReportData, TopEvent};
use super::pdf::{Colour, Document, PAGE_WIDTH, Page, Weight};
use super::settings::Period;
use crate::error::{Error, Result};
use crate::model::Severity;
use plotters::prelude::*;

const MARGIN: f32 = 42.0;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// Top events per page.
const EVENTS_PER_PAGE: usize = 3;
const HEADER: Colour = Colour(31, 41, 55);
/// One colour per camera, in order (repeating after eight).
const PALETTE: [Colour; 8] = [
    Colour(37, 99, 235),
    Colour(234, 88, 12),
    Colour(22, 163, 74),
    Colour(147, 51, 234),
    Colour(219, 39, 119),
    Colour(13, 148, 136),
    Colour(202, 138, 4),
    Colour(100, 116, 139),
];

fn severity_colour(severity: Severity) -> Colour {
    match severity {
        Severity::Low => Colour(59, 130, 246),
        Severity::Medium => Colour(245, 158, 11),
        Severity::High => Colour(220, 38, 38),
    }
}

fn rgb(colour: Colour) -> RGBColor {
    RGBColor(colour.0, colour.1, colour.2)
}

/// A made report: the PDF and its page count.
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub pages: usize,
}

/// How many pages the report of `data` has: one when the period was quiet, else two and the
/// top events' pages.
pub fn page_count(data: &ReportData) -> usize {
    if data.total_events == 0 { 1 } else { 2 + data.top.len().div_ceil(EVENTS_PER_PAGE) }
}

/// Draws the report.
pub fn render(data: &ReportData) -> Result<Rendered> {
    let mut document = Document::new(&title(data))?;
    let total = page_count(data);
    let mut page = document.page();
    let mut y = header(&mut page, data);
    if data.total_events == 0 {
        y = page.paragraph(MARGIN, y, CONTENT_WIDTH, 12.0, Colour::TEXT, &quiet_summary(data));
        y = key_figures(&mut page, data, y + 8.0);
        camera_table(&mut page, data, y + 16.0);
        footer(&mut page, data, 1, total);
        document.finish_page(page);
    } else {
        y = page.paragraph(MARGIN, y, CONTENT_WIDTH, 11.0, Colour::TEXT, &summary(data));
        y = key_figures(&mut page, data, y + 6.0);
        y = events_chart(&mut page, data, y + 18.0)?;
        activity_heat_map(&mut page, data, y + 18.0)?;
        footer(&mut page, data, 1, total);
        document.finish_page(page);

        let mut page = document.page();
        let mut y = 60.0;
        if let Some((text, by)) = &data.ai_summary {
            y = section_title(&mut page, "The period in short", y);
            y = page.paragraph(MARGIN, y, CONTENT_WIDTH, 11.0, Colour::TEXT, text);
            page.text(
                MARGIN,
                y,
                8.5,
                Weight::Regular,
                Colour::MUTED,
                &format!("Written by {by} from the events' descriptions."),
            );
            y += 26.0;
        }
        let mut y = section_title(&mut page, "Alerts by severity", y);
        let severities: Vec<(String, u32, Colour)> = [Severity::High, Severity::Medium, Severity::Low]
            .into_iter()
            .map(|s| {
                let count = data.alerts_by_severity.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
                (s.as_str().to_string(), count, severity_colour(s))
            })
            .collect();
        y = horizontal_bars(&mut page, &severities, y);
        y = section_title(&mut page, "What was seen", y + 20.0);
        let labels: Vec<(String, u32, Colour)> =
            data.labels.iter().take(8).map(|(label, n)| (label.clone(), *n, PALETTE[0])).collect();
        y = horizontal_bars(&mut page, &labels, y);
        camera_table(&mut page, data, y + 20.0);
        footer(&mut page, data, 2, total);
        document.finish_page(page);

        for (index, chunk) in data.top.chunks(EVENTS_PER_PAGE).enumerate() {
            let mut page = document.page();
            let mut y =
                section_title(&mut page, if index == 0 { "Top events" } else { "Top events (continued)" }, 60.0);
            for event in chunk {
                y = top_event(&mut document, &mut page, event, y) + 14.0;
            }
            footer(&mut page, data, 3 + index, total);
            document.finish_page(page);
        }
    }
    let pages = document.page_count();
    Ok(Rendered { pdf: document.save(), pages })
}

/// "Daily report" or "Weekly report", with the schedule's name unless it says as much.
fn title(data: &ReportData) -> String {
    let kind = match data.request.period {
        Period::Daily => "Daily report",
        Period::Weekly => "Weekly report",
    };
    let name = data.request.name.trim();
    if name.is_empty() || name == "manual" || name.eq_ignore_ascii_case(data.request.period.as_str()) {
        kind.to_string()
    } else {
        format!("{kind}: {name}")
    }
}

/// The period in words: "Tuesday 1 December 2026" or "Mon 23 Nov – Sun 29 Nov 2026".
pub fn period_words(data: &ReportData) -> String {
    super::span_words(data.days[0].date, data.days[data.days.len() - 1].date)
}

fn header(page: &mut Page, data: &ReportData) -> f32 {
    page.fill_rect(0.0, 0.0, PAGE_WIDTH, 92.0, HEADER);
    page.text(MARGIN, 30.0, 10.0, Weight::Bold, Colour(156, 163, 175), "WATCHPOST");
    page.text(MARGIN, 56.0, 22.0, Weight::Bold, Colour::WHITE, &title(data));
    let scope = if data.request.cameras.is_empty() {
        "all cameras".to_string()
    } else {
        data.cameras.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
    };
    let line = format!("{} · {} · {}", period_words(data), scope, data.zone_name);
    let line = page.wrap(&line, CONTENT_WIDTH, 10.5, Weight::Regular, 1).join(" ");
    page.text(MARGIN, 78.0, 10.5, Weight::Regular, Colour(229, 231, 235), &line);
    120.0
}

fn section_title(page: &mut Page, title: &str, y: f32) -> f32 {
    page.text(MARGIN, y, 13.0, Weight::Bold, Colour::TEXT, title);
    page.line((MARGIN, y + 5.0), (PAGE_WIDTH - MARGIN, y + 5.0), 0.6, Colour::RULE);
    y + 22.0
}

fn footer(page: &mut Page, data: &ReportData, number: usize, total: usize) {
    let y = super::pdf::PAGE_HEIGHT - 24.0;
    page.line((MARGIN, y - 12.0), (PAGE_WIDTH - MARGIN, y - 12.0), 0.5, Colour::RULE);
    page.text(MARGIN, y, 8.5, Weight::Regular, Colour::MUTED, &format!("Made by Watchpost on {}", data.made_at));
    page.text_right(PAGE_WIDTH - MARGIN, y, 8.5, Weight::Regular, Colour::MUTED, &format!("Page {number} of {total}"));
}

/// A duration in words: "45 s", "12 min", "3 h 20 min", "2 d 4 h".
pub fn duration_words(ms: i64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        _ if ms < 60_000 => format!("{} s", ms / 1000),
        0..60 => format!("{minutes} min"),
        60..1440 if minutes % 60 == 0 => format!("{} h", minutes / 60),
        60..1440 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} d {} h", minutes / 1440, (minutes % 1440) / 60),
    }
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Who was offline and for how long, in one sentence.
fn outages_sentence(data: &ReportData) -> String {
    let out: Vec<String> = data
        .cameras
        .iter()
        .filter(|c| c.offline_ms > 0)
        .map(|c| {
            format!(
                "{} was offline for {} ({})",
                c.name,
                duration_words(c.offline_ms),
                plural(c.outages, "spell", "spells")
            )
        })
        .collect();
    match out.len() {
        0 if data.cameras.is_empty() => "No cameras are set up yet.".into(),
        0 => "Every camera sent pictures all the time.".into(),
        n if n == data.cameras.len() => format!("{}.", out.join("; ")),
        _ => format!("{}; the other cameras were up all the time.", out.join("; ")),
    }
}

fn quiet_summary(data: &ReportData) -> String {
    let span = if data.request.period == Period::Daily { "day" } else { "week" };
    format!(
        "A quiet {span}: no events were recorded{}. {}",
        if data.cameras.is_empty() { "" } else { " on the cameras this report covers" },
        outages_sentence(data)
    )
}

fn summary(data: &ReportData) -> String {
    let active = data.cameras.iter().filter(|c| c.events > 0).count() as u32;
    let mut text =
        format!("{} on {}", plural(data.total_events, "event", "events"), plural(active, "camera", "cameras"));
    if data.total_alerts == 0 {
        text.push_str(", none of them alerted.");
    } else {
        let by: Vec<String> = data
            .alerts_by_severity
            .iter()
            .rev()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        text.push_str(&format!(", {} alerted ({}).", data.total_alerts, by.join(", ")));
    }
    if let Some((hour, count)) = data.busiest_hour {
        text.push_str(&format!(
            " The busiest hour was {hour:02}:00–{:02}:00 with {}.",
            (hour + 1) % 24,
            plural(count, "event", "events")
        ));
    }
    let seen: Vec<String> = data.labels.iter().take(3).map(|(label, n)| format!("{label} ({n})")).collect();
    if !seen.is_empty() {
        text.push_str(&format!(" Most seen: {}.", seen.join(", ")));
    }
    text.push(' ');
    text.push_str(&outages_sentence(data));
    text
}

/// Four tiles: events, alerts, uptime, recordings.
fn key_figures(page: &mut Page, data: &ReportData, y: f32) -> f32 {
    let uptime = if data.cameras.is_empty() {
        "–".to_string()
    } else {
        let mean = data.cameras.iter().map(|c| c.uptime).sum::<f64>() / data.cameras.len() as f64;
        format!("{:.1} %", mean * 100.0)
    };
    let recordings = if data.recordings_bytes > 0 {
        format!("{:.1} GB", data.recordings_bytes as f64 / 1e9)
    } else {
        "none".to_string()
    };
    let kept = data.recordings_days.map_or_else(|| "no recordings kept".to_string(), |d| format!("{d:.1} days kept"));
    let tiles = [
        (data.total_events.to_string(), "events".to_string()),
        (data.total_alerts.to_string(), "alerts".to_string()),
        (uptime, "camera uptime".to_string()),
        (recordings, kept),
    ];
    let gap = 10.0;
    let width = (CONTENT_WIDTH - gap * 3.0) / 4.0;
    for (index, (figure, label)) in tiles.iter().enumerate() {
        let x = MARGIN + index as f32 * (width + gap);
        page.fill_rect(x, y, width, 54.0, Colour(243, 244, 246));
        page.text(x + 10.0, y + 26.0, 18.0, Weight::Bold, Colour::TEXT, figure);
        page.text(x + 10.0, y + 44.0, 9.0, Weight::Regular, Colour::MUTED, label);
    }
    y + 54.0
}

fn chart_error(err: impl std::fmt::Display) -> Error {
    Error::internal(format!("a report chart cannot be drawn: {err}"))
}

/// Events per hour (daily) or per day (weekly), stacked by camera, with a legend.
fn events_chart(page: &mut Page, data: &ReportData, y: f32) -> Result<f32> {
    let (title, columns, labels): (&str, &Vec<Vec<u32>>, Vec<String>) = match data.request.period {
        Period::Daily => ("Events per hour", &data.per_hour, (0..24).map(|h| format!("{h:02}")).collect()),
        Period::Weekly => {
            ("Events per day", &data.per_day, data.days.iter().map(|d| d.date.format("%a %-d").to_string()).collect())
        }
    };
    let y = section_title(page, title, y);
    let height = 190.0;
    let top = columns.iter().map(|c| c.iter().sum::<u32>()).max().unwrap_or(0).max(1);
    {
        let area = page.chart_area(MARGIN, y, CONTENT_WIDTH, height).into_drawing_area();
        let count = labels.len() as u32;
        let mut chart = ChartBuilder::on(&area)
            .margin(8)
            .x_label_area_size(60)
            .y_label_area_size(90)
            .build_cartesian_2d((0..count).into_segmented(), 0.0..f64::from(top) * 1.1)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(229, 231, 235))
            .axis_style(RGBColor(156, 163, 175))
            .label_style(("sans-serif", 36).into_font().color(&RGBColor(75, 85, 99)))
            .x_labels(labels.len())
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_labels(5)
            .draw()
            .map_err(chart_error)?;
        // A gap of about a fifth of a column between bars, in drawing units (a quarter point).
        let gap = (CONTENT_WIDTH * 4.0 / count as f32 * 0.1) as u32;
        for (index, column) in columns.iter().enumerate() {
            let mut base = 0.0;
            for (camera, &n) in column.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let x = index as u32;
                let colour = rgb(PALETTE[camera % PALETTE.len()]);
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(x), base), (SegmentValue::Exact(x + 1), base + f64::from(n))],
                    colour.filled(),
                );
                bar.set_margin(0, 0, gap, gap);
                chart.draw_series(std::iter::once(bar)).map_err(chart_error)?;
                base += f64::from(n);
            }
        }
    }
    // The legend: one swatch per camera.
    let mut x = MARGIN + 22.0;
    let legend_y = y + height + 10.0;
    for (index, camera) in data.cameras.iter().enumerate() {
        let width = page.text_width(&camera.name, 9.0, Weight::Regular) + 24.0;
        if x + width > PAGE_WIDTH - MARGIN {
            break;
        }
        page.fill_rect(x, legend_y - 8.0, 9.0, 9.0, PALETTE[index % PALETTE.len()]);
        page.text(x + 13.0, legend_y, 9.0, Weight::Regular, Colour::TEXT, &camera.name);
        x += width;
    }
    Ok(legend_y + 6.0)
}

/// Activity by hour: a row per weekday (weekly) or per camera (daily), darker for more events.
fn activity_heat_map(page: &mut Page, data: &ReportData, y: f32) -> Result<f32> {
    let (title, rows): (&str, Vec<(String, Vec<u32>)>) = match data.request.period {
        Period::Weekly => (
            "Activity by weekday and hour",
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
                .iter()
                .zip(data.by_weekday_hour.iter())
                .map(|(day, hours)| (day.to_string(), hours.to_vec()))
                .collect(),
        ),
        Period::Daily => (
            "Activity by camera and hour",
            data.cameras
                .iter()
                .enumerate()
                .map(|(index, camera)| (camera.name.clone(), data.per_hour.iter().map(|h| h[index]).collect()))
                .collect(),
        ),
    };
    let y = section_title(page, title, y);
    let row_count = rows.len().max(1);
    let height = (row_count as f32 * 18.0 + 40.0).min(220.0);
    let peak = rows.iter().flat_map(|(_, hours)| hours.iter().copied()).max().unwrap_or(0).max(1);
    let names: Vec<String> = rows.iter().map(|(name, _)| name.clone()).collect();
    let area = page.chart_area(MARGIN, y, CONTENT_WIDTH, height).into_drawing_area();
    let rows_high = row_count as u32;
    let mut chart = ChartBuilder::on(&area)
        .margin(8)
        .x_label_area_size(50)
        .y_label_area_size(190)
        .build_cartesian_2d((0u32..24).into_segmented(), (0..rows_high).into_segmented())
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .axis_style(RGBColor(156, 163, 175))
        .label_style(("sans-serif", 34).into_font().color(&RGBColor(75, 85, 99)))
        .x_labels(24)
        .y_labels(row_count)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(hour) if *hour < 24 => format!("{hour:02}"),
            _ => String::new(),
        })
        .y_label_formatter(&|y| {
            let SegmentValue::CenterOf(row) = y else { return String::new() };
            if *row as usize >= row_count {
                return String::new();
            }
            // The first row at the top.
            let index = row_count.saturating_sub(1 + *row as usize);
            let name = names.get(index).cloned().unwrap_or_default();
            if name.chars().count() > 16 { format!("{}…", name.chars().take(15).collect::<String>()) } else { name }
        })
        .draw()
        .map_err(chart_error)?;
    for (row, (_, hours)) in rows.iter().enumerate() {
        let y0 = (row_count - 1 - row) as u32;
        for (hour, &n) in hours.iter().enumerate() {
            let share = f64::from(n) / f64::from(peak);
            let shade = |light: u8, dark: u8| (f64::from(light) + (f64::from(dark) - f64::from(light)) * share) as u8;
            let colour = if n == 0 {
                RGBColor(243, 244, 246)
            } else {
                RGBColor(shade(219, 30), shade(234, 64), shade(254, 175))
            };
            let x0 = hour as u32;
            let mut cell = Rectangle::new(
                [
                    (SegmentValue::Exact(x0), SegmentValue::Exact(y0)),
                    (SegmentValue::Exact(x0 + 1), SegmentValue::Exact(y0 + 1)),
                ],
                colour.filled(),
            );
            cell.set_margin(3, 3, 3, 3);
            chart.draw_series(std::iter::once(cell)).map_err(chart_error)?;
        }
    }
    Ok(y + height)
}

/// Bars from the left, one per row, with the count at the end.
fn horizontal_bars(page: &mut Page, rows: &[(String, u32, Colour)], y: f32) -> f32 {
    if rows.iter().all(|(_, n, _)| *n == 0) {
        page.text(MARGIN, y, 10.0, Weight::Regular, Colour::MUTED, "None.");
        return y + 8.0;
    }
    let peak = rows.iter().map(|(_, n, _)| *n).max().unwrap_or(1).max(1) as f32;
    let label_width = 110.0;
    let bar_room = CONTENT_WIDTH - label_width - 40.0;
    let mut y = y;
    for (label, n, colour) in rows {
        page.text(MARGIN, y + 9.0, 10.0, Weight::Regular, Colour::TEXT, label);
        let width = bar_room * *n as f32 / peak;
        if *n > 0 {
            page.fill_rect(MARGIN + label_width, y, width.max(1.0), 12.0, *colour);
        }
        page.text(MARGIN + label_width + width + 6.0, y + 9.5, 9.5, Weight::Bold, Colour::TEXT, &n.to_string());
        y += 18.0;
    }
    y
}

/// Each camera's events, alerts, time offline and uptime.
fn camera_table(page: &mut Page, data: &ReportData, y: f32) -> f32 {
    let mut y = section_title(page, "Cameras", y);
    if data.cameras.is_empty() {
        page.text(MARGIN, y, 10.0, Weight::Regular, Colour::MUTED, "No cameras are set up yet.");
        return y + 8.0;
    }
    let columns = [
        (MARGIN, "Camera"),
        (MARGIN + 220.0, "Events"),
        (MARGIN + 290.0, "Alerts"),
        (MARGIN + 360.0, "Offline"),
        (MARGIN + 450.0, "Uptime"),
    ];
    for (x, name) in columns {
        page.text(x, y, 9.5, Weight::Bold, Colour::MUTED, name);
    }
    y += 16.0;
    for camera in &data.cameras {
        let name = page.wrap(&camera.name, 210.0, 10.0, Weight::Regular, 1).join(" ");
        let offline = if camera.offline_ms > 0 { duration_words(camera.offline_ms) } else { "–".into() };
        let cells = [
            name,
            camera.events.to_string(),
            camera.alerts.to_string(),
            offline,
            format!("{:.1} %", camera.uptime * 100.0),
        ];
        for ((x, _), cell) in columns.iter().zip(cells) {
            page.text(*x, y, 10.0, Weight::Regular, Colour::TEXT, &cell);
        }
        page.line((MARGIN, y + 5.0), (PAGE_WIDTH - MARGIN, y + 5.0), 0.3, Colour::RULE);
        y += 18.0;
        if y > super::pdf::PAGE_HEIGHT - 60.0 {
            break;
        }
    }
    y
}

/// One top event: its snapshot on the left, what it was on the right. Returns the y below it.
fn top_event(document: &mut Document, page: &mut Page, event: &TopEvent, y: f32) -> f32 {
    let image_width = 230.0;
    let mut image_bottom = y;
    match event.jpeg.as_deref().and_then(|jpeg| document.add_jpeg(jpeg)) {
        Some(image) => {
            let height = page.image(&image, MARGIN, y, image_width);
            image_bottom = y + height;
        }
        None => {
            page.fill_rect(MARGIN, y, image_width, 130.0, Colour(243, 244, 246));
            page.text(MARGIN + 70.0, y + 70.0, 10.0, Weight::Regular, Colour::MUTED, "No snapshot");
            image_bottom += 130.0;
        }
    }
    let x = MARGIN + image_width + 14.0;
    let width = PAGE_WIDTH - MARGIN - x;
    let mut text_y = y + 12.0;
    for line in page.wrap(&event.headline, width, 12.5, Weight::Bold, 2) {
        page.text(x, text_y, 12.5, Weight::Bold, Colour::TEXT, &line);
        text_y += 16.0;
    }
    let status = if event.alerted { format!("{} alert", event.severity.as_str()) } else { "no alert".to_string() };
    page.fill_rect(
        x,
        text_y - 8.0,
        6.0,
        6.0,
        if event.alerted { severity_colour(event.severity) } else { Colour::RULE },
    );
    page.text(
        x + 10.0,
        text_y,
        9.5,
        Weight::Regular,
        Colour::MUTED,
        &format!("{} · {} · {status} · event {}", event.when, event.camera, event.id),
    );
    text_y += 16.0;
    if let Some(description) = &event.description {
        for line in page.wrap(description, width, 10.0, Weight::Regular, 9) {
            page.text(x, text_y, 10.0, Weight::Regular, Colour::TEXT, &line);
            text_y += 13.5;
        }
    }
    image_bottom.max(text_y)
}
